"""Grad modes: no_grad, enable_grad, set_grad_enabled (context managers and decorators)."""

import functools
import threading


class _State(threading.local):
    enabled = True  # the default every thread starts with, as torch's GradMode


_state = _State()


def is_grad_enabled() -> bool:
    return _state.enabled


def _set(mode: bool) -> None:
    _state.enabled = bool(mode)


class _GradModeContext:
    """Base for the three managers: usable as ``with`` and as a decorator."""

    mode: bool

    def __enter__(self):
        self._prev = is_grad_enabled()
        _set(self.mode)
        return self

    def __exit__(self, *exc):
        _set(self._prev)
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self.__class__(*self._ctor_args()):
                return fn(*args, **kwargs)
        return wrapper

    def _ctor_args(self):
        return ()


class _NoParamContext(_GradModeContext):
    """Also usable bare, ``@no_grad`` without parentheses, as torch allows."""

    def __new__(cls, orig_func=None):
        if orig_func is None:
            return super().__new__(cls)
        return cls()(orig_func)


class no_grad(_NoParamContext):
    mode = False


class enable_grad(_NoParamContext):
    mode = True


class set_grad_enabled(_GradModeContext):
    """Sets the mode at once (as a plain call) and restores it when used as a context."""

    def __init__(self, mode: bool):
        self._prev = is_grad_enabled()
        self.mode = bool(mode)
        _set(self.mode)

    def __enter__(self):
        return self

    def _ctor_args(self):
        return (self.mode,)

    def __call__(self, fn):
        _set(self._prev)  # as a decorator the call itself must not change the mode
        return super().__call__(fn)
