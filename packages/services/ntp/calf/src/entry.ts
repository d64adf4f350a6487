/**
 * The NTP calf's entry point: what is bundled into the single JS file the sandbox runs.
 */
import { runCalf } from "@paddock/calf";
import { ntpCalfMain } from "./main.ts";
import { ntpCalfProfile } from "./profile.ts";

void runCalf(ntpCalfProfile, ntpCalfMain);
