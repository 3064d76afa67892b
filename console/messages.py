"""The console's words in Chinese (the default) and English: one catalogue, used by the
templates (``t("key")``) and handed to the page's script for what it draws."""

from __future__ import annotations

LANGUAGES = ("zh", "en")
DEFAULT_LANGUAGE = "zh"

# key: (Chinese, English)
MESSAGES: dict[str, tuple[str, str]] = {
    "title": ("水域巡逻指挥调度台", "Water patrol dispatch console"),
    "login": ("登录", "Log in"),
    "logout": ("退出", "Log out"),
    "name": ("用户名", "Name"),
    "password": ("密码", "Password"),
    "login_failed": ("用户名或密码错误", "Wrong name or password"),
    "login_limited": ("尝试次数过多，请 {s} 秒后再试", "Too many attempts: try again in {s} s"),
    "role_dispatcher": ("调度员", "dispatcher"),
    "role_viewer": ("只读", "viewer"),
    "queue": ("警情队列", "Alert queue"),
    "map": ("实时地图", "Live map"),
    "water": ("水域", "Water"),
    "type": ("类型", "Type"),
    "state": ("状态", "State"),
    "severity": ("等级", "Severity"),
    "time": ("时间", "Time"),
    "place": ("位置", "Place"),
    "confidence": ("置信度", "Confidence"),
    "people": ("人数", "People"),
    "vehicle": ("无人机", "Drone"),
    "since": ("起始", "From"),
    "until": ("截止", "Until"),
    "search": ("查询", "Search"),
    "all": ("全部", "All"),
    "active": ("未结案", "Open"),
    "page": ("第 {p} / {n} 页，共 {t} 条", "Page {p} of {n}, {t} in all"),
    "prev": ("上一页", "Previous"),
    "next": ("下一页", "Next"),
    "none": ("暂无警情", "No alerts"),
    "person_in_water": ("人员落水", "Person in water"),
    "distress": ("呼救", "Distress"),
    "gathering": ("人员聚集", "Gathering"),
    "critical": ("特急", "critical"),
    "high": ("紧急", "high"),
    "medium": ("一般", "medium"),
    "low": ("低", "low"),
    "new": ("新警情", "new"),
    "acknowledged": ("已确认", "acknowledged"),
    "assigned": ("已派警", "assigned"),
    "closed": ("已结案", "closed"),
    "acknowledge": ("确认", "Acknowledge"),
    "assign": ("派警", "Assign"),
    "close": ("结案", "Close"),
    "note": ("备注", "Note"),
    "outcome": ("处置结果", "Outcome"),
    "rescued": ("已救起", "rescued"),
    "false_alarm": ("误报", "false alarm"),
    "gone_on_arrival": ("到场未见", "gone on arrival"),
    "other": ("其他", "other"),
    "unit": ("出警单位", "Unit"),
    "nearest_units": ("最近单位", "Nearest units"),
    "history": ("处置记录", "History"),
    "evidence": ("证据图像", "Evidence"),
    "no_evidence": ("无证据图像", "No evidence image"),
    "export": ("导出", "Export"),
    "received": ("收到警报", "alert received"),
    "test": ("测试", "TEST"),
    "battery": ("电量", "Battery"),
    "mode": ("模式", "Mode"),
    "link": ("链路", "Link"),
    "video": ("视频", "Video"),
    "detector": ("检测帧率", "Detector"),
    "sortie": ("架次", "Sortie"),
    "drones": ("在线无人机", "Active drones"),
    "live": ("实时", "live"),
    "offline": ("连接中断，正在重连", "disconnected, reconnecting"),
    "read_only": ("只读账号：不能处置警情", "Read-only account: cannot act on alerts"),
    "language": ("English", "中文"),
    "forbidden": ("无权执行此操作", "You may not do this"),
}


def catalogue(lang: str) -> dict[str, str]:
    i = LANGUAGES.index(lang) if lang in LANGUAGES else 0
    return {key: pair[i] for key, pair in MESSAGES.items()}


def pick_language(value: str | None) -> str:
    return value if value in LANGUAGES else DEFAULT_LANGUAGE
