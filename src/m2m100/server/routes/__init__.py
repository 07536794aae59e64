"""The endpoints, one module per API (the app factory, server.app, puts them together):

    libretranslate.py  /translate, /detect, /languages, /frontend/settings, /suggest
    native.py          /v1/translate (Server-Sent Events with "stream": true)
    files.py           /translate_file, /download_file/<name> (an optional router: app.OPTIONAL_ROUTERS)
    service.py         /health, /spec, /docs, the web page at / and its /static files

Every translation endpoint reads its parameters (params.read_params), admits the request (admission.admit),
validates it (params.validate), checks readiness (state.require_ready), and runs its translation through
pipeline.run_request.
"""
