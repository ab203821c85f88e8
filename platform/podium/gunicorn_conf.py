"""gunicorn settings shared by every launcher (`make run`, the images, compose, the tests'
platform): `gunicorn -c python:podium.gunicorn_conf podium.wsgi:application --bind …`.

Threads: uploads and downloads stream through the web process, so a slow client must not
hold a whole worker (a sync worker assumes a buffering proxy in front, and compose has none).

Keep-alive: gunicorn's default (2 s) is shorter than a browser's pause between two clicks, so
a client often sends its next request on a connection the threaded worker is closing at that
moment, and gets "connection reset by peer" (the load test met it at 56 requests/s, and often
when the box was saturated). 65 s outlives any client's pause and a load balancer's usual 60 s
idle timeout, so the server is never the side that closes a connection a request is on.
"""

worker_class = "gthread"
threads = 4
keepalive = 65
