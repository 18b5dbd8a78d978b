"""The console in a browser: textual-serve, with what a bastion needs around it.

textual-serve runs one console process per browser connection and relays its
screen and keys over a websocket.  ``ConsoleServer`` adds:

- a token (``serve --token-env VAR``) every request must carry: the page, its
  static files and the websocket; given once as ``?token=`` (then kept in an
  HttpOnly, SameSite=Strict cookie and dropped from the address bar) or on each
  request as ``Authorization: Bearer``; anything else is answered 401;
- a websocket from another origin refused (403), token or not: a page on another
  site must not drive a console listening on loopback;
- the operator of each session: the trusted proxy's header
  (``console.operator_header``), else ``--operator``; passed to the session's
  process in ``ROLLBACK_CONSOLE_SESSION_OPERATOR``; without one the request is
  refused (403), never recorded as the server's login;
- its own page (``index.html``): titled with the service, fonts and scripts from
  this server only (textual-serve's page loads Google Fonts), a Content-Security-Policy
  that keeps it so;
- no access log: a request line may hold the token.  One line per session
  opened and closed (who, from where) goes to standard error instead.
"""

from console.web.server import ConsoleServer, WebOptions, serve

__all__ = ["ConsoleServer", "WebOptions", "serve"]
