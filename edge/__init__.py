"""The edge: the one door between people and the bus (`python -m edge`), stateless (all state is in NATS).

`front/` is the door itself (who is calling, what they may do, what is measured), `api/` the HTTP API,
`live/` the live streams (WebSocket chat, SSE), and at the top what all of them share: the app that
puts them together (`app.py`), its state (`appkeys.py`), its settings (`settings.py`), request
validation (`validation.py`), publishing a person's message (`chat_in.py`) and the web UI (`web_ui.py`).
"""
