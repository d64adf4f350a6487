/**
 * The DHCPv6 calf's entry point: what is bundled into the single JS file the sandbox runs.
 */
import { runCalf } from "@paddock/calf";
import { dhcp6CalfMain } from "./main.ts";
import { dhcp6CalfProfile } from "./profile.ts";

void runCalf(dhcp6CalfProfile, dhcp6CalfMain);
