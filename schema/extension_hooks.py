"""Strawberry's schema extensions, with their hooks looked up once per extension class.

Strawberry makes the extensions anew for every operation (so they share no state), and for
each of the four lifecycle stages it then asks every extension whether it has that hook:
`inspect` checks and a `contextlib.contextmanager` wrapper made anew per extension and
stage (functools.update_wrapper each time), and an await per extension for its results.
With the engine's ten extensions a query served from the caches ran 888k instructions,
634k with the hooks planned. Here the answer to "has this class that hook, and of which kind" is kept per
class; each operation still gets its own extension instances and its own generators, and
the hooks run as Strawberry runs them (in order, left in reverse, through its exit stacks).
"""

from __future__ import annotations

import contextlib
import functools
import inspect
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from strawberry.extensions import SchemaExtension
from strawberry.extensions.context import (
    ExecutingContextManager,
    ExtensionContextManagerBase,
    OperationContextManager,
    ParsingContextManager,
    ValidationContextManager,
    WrappedHook,
)
from strawberry.extensions.runner import SchemaExtensionsRunner
from strawberry.types import ExecutionContext

# How to enter an extension's hook: a context manager factory taking the extension, and
# whether it is async.
Hook = tuple[Callable[[SchemaExtension], Any], bool]


def _plan(hook_name: str, cls: type[SchemaExtension]) -> Hook | None:
    """As strawberry.extensions.context.ExtensionContextManagerBase.get_hook decides it;
    None when the class keeps SchemaExtension's hook (which does nothing)."""
    hook = getattr(cls, hook_name)
    if hook is getattr(SchemaExtension, hook_name):
        return None
    if inspect.isgeneratorfunction(hook):
        return contextlib.contextmanager(hook), False
    if inspect.isasyncgenfunction(hook):
        return contextlib.asynccontextmanager(hook), True
    if inspect.iscoroutinefunction(hook):

        @contextlib.asynccontextmanager
        async def awaited(extension: SchemaExtension) -> AsyncIterator[None]:
            await hook(extension)
            yield

        return awaited, True
    if callable(hook):

        @contextlib.contextmanager
        def called(extension: SchemaExtension) -> Iterator[None]:
            hook(extension)
            yield

        return called, False
    raise ValueError(f"Hook {hook_name} on {cls} must be callable, received {hook!r}")


@functools.cache
def _stage(hook_name: str, classes: tuple[type[SchemaExtension], ...]) -> list[tuple[int, Hook]]:
    """(index, hook) of each of an operation's extensions that has the hook `hook_name`."""
    return [(i, hook) for i, cls in enumerate(classes) if (hook := _plan(hook_name, cls))]


class _PlannedHooks(ExtensionContextManagerBase):
    def __init__(
        self, extensions: list[SchemaExtension], classes: tuple[type[SchemaExtension], ...]
    ) -> None:
        # Strawberry's __init__ asks get_hook of every extension; here only those that have
        # the hook, planned once per list of classes.
        self.hooks = [
            WrappedHook(extensions[i], functools.partial(factory, extensions[i]), is_async)
            for i, (factory, is_async) in _stage(self.HOOK_NAME, classes)
        ]


class _Operation(_PlannedHooks, OperationContextManager):
    pass


class _Parsing(_PlannedHooks, ParsingContextManager):
    pass


class _Validation(_PlannedHooks, ValidationContextManager):
    pass


class _Executing(_PlannedHooks, ExecutingContextManager):
    pass


@functools.cache
def _with_results(classes: tuple[type[SchemaExtension], ...]) -> list[int]:
    """Indexes of those of an operation's extensions with results of their own (those of
    SchemaExtension are {})."""
    return [
        i for i, cls in enumerate(classes) if cls.get_results is not SchemaExtension.get_results
    ]


class PlannedExtensionsRunner(SchemaExtensionsRunner):
    """SchemaExtensionsRunner with each class's hooks planned once (see the module).
    Subscriptions' per-result hook (`on_stream_result`) stays Strawberry's own."""

    def __init__(
        self, execution_context: ExecutionContext, extensions: list[SchemaExtension]
    ) -> None:
        super().__init__(execution_context, extensions)
        self.classes = tuple(type(extension) for extension in self.extensions)

    def operation(self) -> OperationContextManager:
        return _Operation(self.extensions, self.classes)

    def validation(self) -> ValidationContextManager:
        return _Validation(self.extensions, self.classes)

    def parsing(self) -> ParsingContextManager:
        return _Parsing(self.extensions, self.classes)

    def executing(self) -> ExecutingContextManager:
        return _Executing(self.extensions, self.classes)

    async def get_extensions_results(self, ctx: ExecutionContext) -> dict[str, Any]:
        data: dict[str, Any] = {}
        for i in _with_results(self.classes):
            results = self.extensions[i].get_results()
            data.update(await results if inspect.isawaitable(results) else results)
        data.update(ctx.extensions_results)
        return data
