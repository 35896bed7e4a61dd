"""Grad modes: no_grad, enable_grad, set_grad_enabled, inference_mode (context managers and
decorators)."""

import functools
import inspect
import sys
import threading
import warnings


class _State(threading.local):
    enabled = True  # the default every thread starts with, as torch's GradMode
    inference = False  # torch.inference_mode: outputs are inference tensors (engine/inference.py)


_state = _State()


def is_grad_enabled() -> bool:
    return _state.enabled


def is_inference_mode_enabled() -> bool:
    return _state.inference


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
        if inspect.isclass(fn):  # torch still allows it: the mode covers construction only
            warnings.warn(_CLASS_DECORATION_WARNING, FutureWarning, stacklevel=2)
            fn = _constructor(fn)
        if inspect.isgeneratorfunction(fn):
            return _wrap_generator(self._fresh, fn)

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self._fresh():
                return fn(*args, **kwargs)
        return wrapper

    def _fresh(self):
        """A new manager of the same mode (one per entry: each keeps its own ``_prev``)."""
        return self.__class__(*self._ctor_args())

    def _ctor_args(self):
        return ()


_CLASS_DECORATION_WARNING = (
    "Decorating classes is deprecated and will be disabled in future versions. You should "
    "only decorate functions or methods. To preserve the current behavior of class "
    "decoration, you can directly decorate the `__init__` method and nothing else.")


def _constructor(cls):
    def construct(*args, **kwargs):
        return cls(*args, **kwargs)
    return construct


def _wrap_generator(fresh, fn):
    """A generator function whose body runs in the mode at every resumption (next, send,
    throw, close), while its caller keeps its own mode between them, as torch's."""

    @functools.wraps(fn)
    def generator(*args, **kwargs):
        gen = fn(*args, **kwargs)
        try:
            with fresh():
                value = gen.send(None)
            while True:
                try:
                    sent = yield value
                except GeneratorExit:
                    with fresh():
                        gen.close()
                    raise
                except BaseException:
                    with fresh():
                        value = gen.throw(*sys.exc_info())
                else:
                    with fresh():
                        value = gen.send(sent)
        except StopIteration as stop:
            return stop.value

    return generator


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


class inference_mode(_GradModeContext):
    """torch.inference_mode(mode=True): grad off and, with ``mode``, every new tensor an
    inference tensor (engine/inference.py); ``inference_mode(False)`` turns both back on
    inside it, as torch's InferenceMode(false) does (grad mode on, whatever it was)."""

    def __new__(cls, mode=True):
        if not isinstance(mode, bool):  # bare ``@inference_mode`` on a function
            return cls()(mode)
        return super().__new__(cls)

    def __init__(self, mode: bool = True):
        self.mode = mode

    def __enter__(self):
        self._prev = (_state.enabled, _state.inference)
        _state.enabled, _state.inference = not self.mode, self.mode
        if self.mode:
            global inference_used
            inference_used = True
        return self

    def __exit__(self, *exc):
        _state.enabled, _state.inference = self._prev
        return False

    def _ctor_args(self):
        return (self.mode,)


# True once any thread entered inference mode: until then no tensor can be an inference
# tensor, and recording skips the check that some input is not one
inference_used = False


class set_multithreading_enabled(_GradModeContext):
    """torch.autograd.set_multithreading_enabled(mode): whether a backward may run on
    worker threads. The walk here always runs on the calling thread; the flag is kept and
    restored, as torch's."""

    def __init__(self, mode: bool):
        global _multithreading
        self._prev, self.mode = _multithreading, bool(mode)
        _multithreading = self.mode

    def __enter__(self):
        return None

    def __exit__(self, *exc):
        global _multithreading
        _multithreading = self._prev
        return False

    def _ctor_args(self):
        return (self.mode,)


_multithreading = True


def is_multithreading_enabled() -> bool:
    return _multithreading
