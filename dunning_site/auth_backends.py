"""Authentication backends of the project."""

from axes.backends import AxesStandaloneBackend


class RequestOptionalAxesBackend(AxesStandaloneBackend):
    """django-axes' lockout check that lets `authenticate()` calls without a request pass.

    Only the test settings use it, so that the test client's `login()` works: that method
    calls `authenticate()` without a request, which django-axes rejects. Logins through
    the admin's login page carry the request and are throttled as in production.
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username, password, **kwargs)
