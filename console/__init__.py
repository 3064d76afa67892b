"""The station console: the dispatch post's web page (live map, alert queue, handling).

A Starlette app (:mod:`console.app`) over the station store (:mod:`console.store`), served by
uvicorn (:mod:`console.server`); started with ``waterpatrol station console``.
"""
