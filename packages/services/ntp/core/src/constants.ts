/**
 * The parameters of the client, named as RFC 5905 §7.2 (figure 6) and appendix A name them. Where
 * a value departs from the RFC's, the comment says so and why; docs/ntp.md lists the departures.
 */

/** Frequency tolerance: how fast dispersion grows, seconds per second (15 ppm). */
export const PHI = 15e-6;
/** Stages in each source's clock filter. */
export const NSTAGE = 8;
/** Dispersion of an empty filter stage, and the ceiling of any dispersion, seconds. */
export const MAXDISP = 16;
/** Floor of the delay term in the root distance, seconds. */
export const MINDISP = 0.005;
/** Root distance above which a source is unfit, seconds. */
export const MAXDIST = 1.5;
/** Stratum at and above which a server is unsynchronized. */
export const MAXSTRAT = 16;
/**
 * Default shortest and longest poll intervals (log2 s): 64 s and 1024 s. The RFC's defaults are
 * 16 s and 36 h; 64–1024 s is what public servers ask of clients (and ntpd's own defaults).
 */
export const DEFAULT_MIN_POLL = 6;
export const DEFAULT_MAX_POLL = 10;
/** The RFC's bounds on any poll exponent: a configuration or a KoD may not go beyond them. */
export const MINPOLL_LIMIT = 4;
export const MAXPOLL_LIMIT = 17;
/** Minimum survivors of clustering (§11.2.2). */
export const NMIN = 3;
/** Spike gate: an offset this many jitters away from the last one is a popcorn spike (§10). */
export const SGATE = 3;
/** Poll gate: offsets below this many clock jitters count toward a longer poll (§11.3). */
export const PGATE = 4;
/** Hysteresis of the poll adjustment (§11.3). */
export const LIMIT = 30;
/** Step threshold, seconds. */
export const STEPT = 0.128;
/** Stepout interval: how long an offset above STEPT must last before a step is asked, seconds. */
export const WATCH = 900;
/** Largest frequency correction, seconds per second (500 ppm). */
export const MAXFREQ = 500e-6;
/** Averaging constant of the clock jitter and of the frequency updates. */
export const AVG = 4;
/**
 * iburst: requests at start are 2 s apart, until the source has {@link IBURST_SAMPLES} samples
 * (enough for its filter dispersion to fall below MAXDIST) or {@link IBURST_MAX_REQUESTS} were sent.
 */
export const IBURST_SPACING_SECONDS = 2;
export const IBURST_SAMPLES = 8;
export const IBURST_MAX_REQUESTS = 12;
/** Sources start this far apart, so that their first requests do not leave as one burst. */
export const START_STAGGER_SECONDS = 0.1;
/**
 * Samples combined into one update are at most 8 s old: the sources of one round answer within
 * a couple of seconds (0.1 s apart plus their round trips), and 8 s of a 100 ppm frequency error
 * is 0.8 ms, below what a sample a whole poll old would add.
 */
export const ROUND_WINDOW_SECONDS = 8;
/**
 * Before the first update, samples of the whole start burst are one round: its requests span at
 * most IBURST_MAX_REQUESTS × IBURST_SPACING_SECONDS (24 s; 2.4 ms of a 100 ppm frequency error,
 * for an offset that is stepped or slewed and then refined). Older samples (sources that only
 * agreed later) wait for a round of their own, as every later update does.
 */
export const FIRST_ROUND_WINDOW_SECONDS = IBURST_MAX_REQUESTS * IBURST_SPACING_SECONDS;
/** Most sources one client keeps: more adds nothing to selection and multiplies the traffic. */
export const MAX_SOURCES = 16;
