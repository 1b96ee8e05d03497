"""The served dashboard's login: Panel's password page, with its pictures served by the
dashboard itself (Panel's own page takes them from a CDN) and failed attempts slowed down."""

from __future__ import annotations

import hmac
import math
import time
from collections.abc import Callable
from typing import ClassVar

import tornado.escape
from panel.auth import BasicAuthProvider, BasicLoginHandler, _validate_next_url
from panel.io.resources import LOCAL_DIST
from panel.io.state import state


class LoginThrottle:
    """Failed logins per client address. The first ``free_attempts`` failures cost nothing;
    after them each attempt must wait twice as long as the last (1 s, 2 s, 4 s, ... up to
    ``max_wait_s``), whether or not its password is right, so guessing gets slow. A client
    that stays away for ``forget_after_s`` starts afresh."""

    def __init__(
        self,
        free_attempts: int = 3,
        max_wait_s: float = 60.0,
        forget_after_s: float = 15 * 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.free_attempts = free_attempts
        self.max_wait_s = max_wait_s
        self.forget_after_s = forget_after_s
        self.clock = clock
        self._failures: dict[str, tuple[int, float]] = {}  # client: (failures, last one)

    def wait_left(self, client: str) -> float:
        """Seconds this client must still wait before its next attempt counts (0: none)."""
        failures, last = self._failures.get(client, (0, -math.inf))
        now = self.clock()
        if now - last >= self.forget_after_s:
            self._failures.pop(client, None)
            return 0.0
        if failures < self.free_attempts:
            return 0.0
        wait = min(2.0 ** (failures - self.free_attempts), self.max_wait_s)
        return max(0.0, last + wait - now)

    def failed(self, client: str) -> None:
        failures, _ = self._failures.get(client, (0, 0.0))
        self._failures[client] = (failures + 1, self.clock())

    def succeeded(self, client: str) -> None:
        self._failures.pop(client, None)


class ThrottledLoginHandler(BasicLoginHandler):
    """``/login``: the password page. Set ``password`` and ``throttle`` on a subclass."""

    password: ClassVar[str] = ""
    throttle: ClassVar[LoginThrottle] = LoginThrottle()

    def get(self) -> None:
        self._page(self.get_argument("error", ""))

    def _page(self, error: str) -> None:
        next_url = _validate_next_url(self.get_argument("next", state.base_url))
        if next_url:
            self.set_cookie("next_url", next_url)
        # The favicon and logo from this server's static route, not from cdn.holoviz.org.
        static = f"{state.base_url.rstrip('/')}/{LOCAL_DIST}"
        self.write(
            self._login_template.render(
                login_endpoint=self._login_endpoint, errormessage=error, PANEL_CDN=static
            )
        )

    def _validate(self, username: str, password: str) -> bool:
        """Any user name; the one password, compared in constant time."""
        return hmac.compare_digest(password.encode(), self.password.encode())

    def post(self) -> None:
        client = self.request.remote_ip or "unknown"
        wait = self.throttle.wait_left(client)
        if wait > 0:
            seconds = math.ceil(wait)
            self.set_status(429)  # Too Many Requests
            self.set_header("Retry-After", str(seconds))
            self._page(f"Too many failed logins: try again in {seconds} s.")
            return
        username = self.get_argument("username", "")
        if not self._validate(username, self.get_argument("password", "")):
            self.throttle.failed(client)
            error = tornado.escape.url_escape("Wrong password.")
            self.redirect(f"{self.request.path}?error={error}")
            return
        self.throttle.succeeded(client)
        self.set_current_user(username or "user")
        self.redirect(_validate_next_url(self.get_cookie("next_url", state.base_url)))


class PasswordAuthProvider(BasicAuthProvider):
    """Panel's basic auth with :class:`ThrottledLoginHandler` as its login page."""

    def __init__(self, password: str, throttle: LoginThrottle | None = None, **params) -> None:
        self._password = password
        self._throttle = throttle or LoginThrottle()
        super().__init__(**params)

    @property
    def login_handler(self) -> type[ThrottledLoginHandler]:
        # Built on first use: Panel's AuthProvider.__init__ asks for it, before ours could.
        if "_handler" not in self.__dict__:
            self._handler = type(
                "DashboardLoginHandler",
                (ThrottledLoginHandler,),
                {
                    "password": self._password,
                    "throttle": self._throttle,
                    "_login_endpoint": self._login_endpoint,
                    "_login_template": self._login_template,
                },
            )
        return self._handler
