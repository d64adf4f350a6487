/**
 * `paddock dhcp` through a lease's life against Kea, the calf on Node: renewals that never let the
 * address disappear, a calf killed with SIGKILL mid-lease, renewals that change the options, a NAK
 * while RENEWING, and the server going away. The scenarios are in helpers/shim-lease.ts, shared
 * with test/calf-quickjs.test.ts, which runs them on QuickJS.
 *
 * Needs root (namespaces, runc). Skipped with a reason otherwise, never under CI=true.
 */
import { describeShimLease } from "./helpers/shim-lease.ts";

describeShimLease({ engine: "node", prefix: "pdt" });
