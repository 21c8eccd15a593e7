"""gunicorn's settings for the web app, wherever it runs (`up`, deploy/, the tests):
`gunicorn -c python:jobplatform.gunicorn_config ...`."""

# The API's longest query (a search, a type and a cursor at their documented maximum
# lengths, percent-encoded UTF-8) is about 6 KB; gunicorn's default of 4 KB would answer
# that with an HTML 414 from outside the app. 8190 is the most gunicorn allows.
limit_request_line = 8190
