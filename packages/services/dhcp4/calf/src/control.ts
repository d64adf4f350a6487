/**
 * The operator's requests to the running client (`paddock renew IF`, `paddock release IF`): the
 * CLI bumps a counter under /control/ in the store through the admin socket (priv-written keys
 * the calf may read), and the calf watches that prefix. Each change of /control/renew is one
 * `renew` event for the client core, each change of /control/release one `release`; the value
 * itself means nothing, so a counter left from an earlier run asks for nothing.
 */
import type { CalfContext } from "@paddock/calf";
import type { ClientEvent } from "@paddock/dhcp4";

/** What each /control key asks of the client. */
const REQUESTS: Readonly<Record<string, ClientEvent>> = {
  "/control/renew": { kind: "renew" },
  "/control/release": { kind: "release" },
};

/** Watches /control and hands each request to `dispatch`; resolves once the watch is in place. */
export async function watchControl(ctx: CalfContext, dispatch: (event: ClientEvent) => void): Promise<void> {
  await ctx.kv.watch("/control", (e) => {
    const event = REQUESTS[e.path];
    if (event === undefined || e.value === null) return;
    ctx.log.info({ request: e.path }, `operator request: ${event.kind}`);
    dispatch(event);
  });
}
