"""A stream of chunks compressed off the event loop, as one compressed stream flushed at every chunk."""

import asyncio
from collections.abc import AsyncGenerator, Iterable
from contextlib import aclosing

from domain.ports import Compressor


async def compressed(chunks: AsyncGenerator[bytes, None], compressor: Compressor) -> AsyncGenerator[bytes, None]:
    """`chunks` through `compressor`, one chunk at a time in a worker thread while the next chunk is read (so one
    chunk at most waits ahead); closing this closes `chunks`, and an error in `chunks` ends it without a trailer."""
    compressing: asyncio.Task[bytes] | None = None
    try:
        async with aclosing(chunks):
            async for chunk in chunks:
                done = await compressing if compressing is not None else None
                # The compressor is one stream: a chunk is handed to it only once the one before is through.
                compressing = asyncio.create_task(asyncio.to_thread(compressor.compress, chunk))
                if done is not None:
                    yield done
        if compressing is not None:
            yield await compressing
        yield await asyncio.to_thread(compressor.finish)
    finally:
        # A download cut short leaves the thread to finish its chunk on its own; nobody waits for it.
        if compressing is not None:
            compressing.cancel()


def compressed_size(compressor: Compressor, chunks: Iterable[bytes]) -> int:
    """How many bytes `chunks` take as one compressed stream, flushed at every chunk (CPU-bound: run it in a
    worker thread)."""
    return sum(len(compressor.compress(chunk)) for chunk in chunks) + len(compressor.finish())
