"""Bridges to other engines, each an optional extra imported only when used.

    ray.py         `TranslateBatch` / `TranslateBlocks` for `ray.data.Dataset.map_batches`, `translate_dataset`
    ray_serve.py   the HTTP server's FastAPI app as a Ray Serve deployment (`serve run m2m100.integrations.ray_serve:app`)

Importing this package imports nothing heavy; the modules above need `pip install "m2m100[ray]"`.
"""
