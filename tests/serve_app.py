"""Run the app on a loopback port in its own process (tests that measure a worker's memory).

``python -m tests.serve_app DATABASE_URI`` prints the port, then serves until killed.
"""

import sys

from werkzeug.serving import make_server

from webapp import create_app


def main() -> None:
    """Serve one app on 127.0.0.1 (port chosen by the OS) and print the port."""
    app = create_app(
        {
            "SECRET_KEY": "serve-app-test-key",
            "SQLALCHEMY_DATABASE_URI": sys.argv[1],
            "WTF_CSRF_ENABLED": True,
        }
    )
    with app.app_context():
        from webapp.extensions import db

        db.create_all()
    server = make_server("127.0.0.1", 0, app, threaded=False)
    print(server.server_port, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
