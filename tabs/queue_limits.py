"""Fair shares of the one queue: long requests share two workers, and one user may have only a few of them waiting.

The app has one queue of ``QUEUE_SIZE`` places for everyone. With no limit per user, one client that sent forty
1,000-step projections filled it, and every other visitor's request was refused ("Queue is full") for about 17
minutes. Now:

- **Long requests** (those that can take many seconds at their largest settings on a CPU: a projection, an upscale,
  a large maps picture, a walk GIF, the Digits tab's three classifiers) run in one concurrency group, ``LONG``: at most two at once whatever their
  endpoints, so the cheap requests (faces, digits, birds, a page's first visit; each event in a group of its own,
  two at a time) always have CPU and workers left. The playground's training runs have their own group of four.
- **Per user:** one session (a browser page; a gradio_client ``Client``, which has a session of its own; a plain
  HTTP caller that sends none: its address) may have at most ``PER_SESSION`` long requests waiting or running. One
  more is refused at once, before it takes a place in the queue, with a message that says why.
- **Their share of the queue:** long requests may hold at most ``LONG_SHARE`` of the waiting places, so that even
  many users sending long requests leave room for the cheap ones.

Gradio 6.31 has per-event concurrency groups and one ``max_size`` for the whole queue, but no limit per session,
and the one hook that runs before a request is queued (an event's ``validator``) first preprocesses the inputs,
which would turn an upload's own clear error into a bare "400 Bad Request" for API clients. So ``QueueLimits``
wraps the queue's ``push`` (where Gradio itself refuses a request when the queue is full) and reads the queue's
waiting and running events; ``tests/test_serving.py`` runs it against a real server, so a Gradio upgrade that
changes either fails there.
"""

from __future__ import annotations

import asyncio

LONG_ID = "long"
LONG = dict(concurrency_id=LONG_ID, concurrency_limit=2)  # the event options of every long request
PLAYGROUND_ID = "playground"                               # the playground's training runs (tabs/playground.py)
PER_SESSION = 2
LONG_SHARE = 16  # of app.QUEUE_SIZE (32) waiting places


def _address(request) -> str:
    client = getattr(request, "client", None)
    return f"address {client.host}" if client is not None else "address unknown"


def _owner(event) -> str:
    """Whose request a queued event is: its session, or (an HTTP caller that sent no session) its address.

    Gradio gives an event that came without a session hash its own id as its session hash."""
    return _address(event.request) if event.session_hash == event._id else event.session_hash


class QueueLimits:
    """The per-session limit and the long requests' share of the queue, installed on a ``gr.Blocks``' queue.

    ``guarded``: the concurrency groups whose events count as long requests.
    """

    def __init__(self, per_session: int = PER_SESSION, long_share: int = LONG_SHARE,
                 guarded: frozenset[str] = frozenset({LONG_ID, PLAYGROUND_ID})):
        self.per_session, self.long_share, self.guarded = per_session, long_share, guarded
        self.answered: set[str] = set()  # ids of running events whose final answer has been sent (install)

    def install(self, demo) -> None:
        """Refuse the requests over the limits when they are pushed to ``demo``'s queue. Call it after
        ``demo.queue()``, which makes a new queue."""
        queue, push = demo._queue, demo._queue.push
        lock = asyncio.Lock()  # one check-and-push at a time: forty requests sent at once are counted one by one

        async def limited_push(body, request, username):
            fn = demo.fns.get(body.fn_index) if body.fn_index is not None else None
            if fn is None or fn.concurrency_id not in self.guarded:
                return await push(body, request, username)
            async with lock:
                message = self.refusal(queue, body.session_hash or _address(request))
                if message is not None:
                    if request.headers.get("x-gradio-user") == "app":  # the page (Gradio's frontend says so)
                        return False, message, "error"  # HTTP 400: shown in an error box, as every other error
                    # Gradio's own form for a request refused before it is queued (HTTP 422, the message in its
                    # JSON): gradio_client raises ValidationError with the message (for a 400 it shows none)
                    return False, [{"__type__": "validate", "is_valid": False, "message": message,
                                    "parameter_name": "request"}], "validator_error"
                return await push(body, request, username)

        queue.push = limited_push

        # Gradio sends a failed request's error, then sums its analytics in a thread, and only then takes it off
        # its running jobs: a user who got two errors and at once sends again would be counted twice too many. A
        # request whose final answer has gone out no longer counts.
        send_message = queue.send_message

        def noted_send_message(event, message):
            if getattr(message, "msg", None) == "process_completed" and event.fn.concurrency_id in self.guarded:
                self.answered.add(event._id)  # (long ones only: pending() forgets them once Gradio has too)
            return send_message(event, message)

        queue.send_message = noted_send_message

    def pending(self, queue) -> tuple[list, list]:
        """(waiting, running) long requests in ``queue`` (Gradio 6.31's Queue)."""
        waiting = [event for group in queue.event_queue_per_concurrency_id.values() for event in group.queue
                   if event.fn.concurrency_id in self.guarded]
        running = [event for job in queue.active_jobs if job for event in job
                   if event.fn.concurrency_id in self.guarded]
        self.answered &= {event._id for event in running}  # forget the ones Gradio has taken off since
        return waiting, [event for event in running if event._id not in self.answered]

    def refusal(self, queue, owner: str) -> str | None:
        """Why a long request of ``owner`` (a session hash, or an address) is refused now; None if it is not."""
        waiting, running = self.pending(queue)
        mine = sum(_owner(event) == owner for event in waiting + running)
        if mine >= self.per_session:
            return (f"You already have {mine} long request{'s' * (mine != 1)} waiting or running (at most "
                    f"{self.per_session} for each user): wait for {'them' if mine != 1 else 'it'} to finish, then try "
                    "again.")
        if len(waiting) >= self.long_share:
            return (f"The server is busy: {len(waiting)} long requests are waiting. Try again in a minute; short ones "
                    "(faces, digits, birds) are still answered at once.")
        return None
