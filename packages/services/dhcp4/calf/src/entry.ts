/**
 * The DHCP calf's entry point: what is bundled into the single JS file the sandbox runs.
 */
import { runCalf } from "@paddock/calf";
import { dhcp4CalfMain } from "./main.ts";
import { dhcp4CalfProfile } from "./profile.ts";

void runCalf(dhcp4CalfProfile, dhcp4CalfMain);
