"""The live list's shared renderings: one rendering per change number and key for every request that
asks meanwhile, a newer change dropping the older ones, a peer's error never kept, and each request's
own CSRF token and request id filled into the placeholders (escaped as an attribute's value)."""

import asyncio

from services.console.fragments import (
    CSRF_PLACEHOLDER,
    REQUEST_ID_PLACEHOLDER,
    RoleOnly,
    SharedRenderings,
    personal,
)


def rendering(html: str = "<form>", *, keep: bool = True, delay_s: float = 0.01):
    async def render() -> tuple[str, bool]:
        await asyncio.sleep(delay_s)
        return html, keep

    return render


def test_concurrent_requests_after_one_change_with_the_same_key_render_once():
    async def run():
        shared = SharedRenderings()
        answers = await asyncio.gather(*(shared.get(7, ("open", "responder"), rendering("rows")) for _ in range(50)))
        again = await shared.get(7, ("open", "responder"), rendering("other"))
        return shared.renders, answers, again

    renders, answers, again = asyncio.run(run())
    assert renders == 1 and set(answers) == {"rows"} and again == "rows"


def test_another_key_or_a_newer_change_renders_again_and_the_older_change_is_dropped():
    async def run():
        shared = SharedRenderings()
        await shared.get(7, ("open", "responder"), rendering("a"))
        await shared.get(7, ("open", "viewer"), rendering("b"))
        await shared.get(8, ("open", "responder"), rendering("c"))
        late = await shared.get(7, ("open", "responder"), rendering("d"))  # a request from before change 8
        return shared.renders, late, len(shared._entries)

    renders, late, kept = asyncio.run(run())
    assert renders == 4 and late == "d" and kept == 1


def test_a_rendering_of_a_peer_error_or_one_older_than_the_ttl_is_not_kept():
    now = [0.0]

    async def run():
        shared = SharedRenderings(clock=lambda: now[0], ttl_s=5)
        await shared.get(1, ("k",), rendering("error", keep=False))
        await shared.get(1, ("k",), rendering("rows"))
        now[0] = 6.0
        stale = await shared.get(1, ("k",), rendering("fresh"))
        return shared.renders, stale

    assert asyncio.run(run()) == (3, "fresh")


def test_the_least_recently_used_keys_go_first_when_full():
    async def run():
        shared = SharedRenderings(max_entries=2)
        for key in ("a", "b", "a", "c"):
            await shared.get(1, (key,), rendering(key))
        return sorted(k[1] for k in shared._entries)

    assert asyncio.run(run()) == ["a", "c"]


def test_a_failed_rendering_is_not_kept():
    async def fail() -> tuple[str, bool]:
        raise RuntimeError("boom")

    async def run():
        shared = SharedRenderings()
        try:
            await shared.get(1, ("k",), fail)
        except RuntimeError:
            pass
        return await shared.get(1, ("k",), rendering("ok")), shared.renders

    assert asyncio.run(run()) == ("ok", 2)


def test_each_request_gets_its_own_token_and_request_id_escaped():
    shared = f'<input value="{CSRF_PLACEHOLDER}"><input value="{REQUEST_ID_PLACEHOLDER}-4">'
    assert personal(shared, csrf_token='a"b<c', request_id="0f1e") == '<input value="a&#34;b&lt;c"><input value="0f1e-4">'


def test_a_shared_rendering_knows_the_role_but_nothing_of_a_person():
    viewer, responder = RoleOnly("viewer"), RoleOnly("responder")
    assert not viewer.at_least("responder") and responder.at_least("responder") and not responder.at_least("admin")
    assert responder.csrf_token == CSRF_PLACEHOLDER and not hasattr(responder, "person")
