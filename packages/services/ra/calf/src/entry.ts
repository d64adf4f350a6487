/**
 * The RA calf's entry point: what is bundled into the single JS file the sandbox runs.
 */
import { runCalf } from "@paddock/calf";
import { raCalfMain } from "./main.ts";
import { raCalfProfile } from "./profile.ts";

void runCalf(raCalfProfile, raCalfMain);
