/**
 * Beyond this many standard deviations phi is clamped. At y = 1e6 phi is about 3e16, already
 * absurdly certain, and clamping keeps y^3 (and so phi) finite for any input.
 */
const Y_LIMIT = 1e6;

/** Above this z, `log1p(exp(z))` and `z` are the same double (checked at the seam in tests). */
const SOFTPLUS_LINEAR_FROM = 36;

/**
 * Phi for a heartbeat that is `elapsedMs` overdue relative to a normal distribution of
 * inter-arrival times with mean `meanMs` and standard deviation `stdDeviationMs`.
 *
 * It uses Akka's logistic approximation of the normal CDF (error 0.00014 at y = +-3.16):
 * `y = (elapsed - mean) / stdDeviation`, `e = exp(-y * (1.5976 + 0.070566 * y * y))` and
 * `phi = -log10(e / (1 + e))` (Akka writes `-log10(1 - 1 / (1 + e))` for `elapsed <= mean`,
 * which is the same number). With `z = y * (1.5976 + 0.070566 * y * y)`, `e / (1 + e)` equals
 * `1 / (1 + exp(z))`, so `phi = log10(1 + exp(z))`. That is evaluated as `log1p(exp(z)) / ln 10`,
 * and as `z / ln 10` above z = 36, where `log1p(exp(-z))` (< 2.4e-16) is under half an ulp of z so
 * both forms round to the same double. So it never overflows to Infinity where Akka's form does
 * (z > ~745, about y > 21.9); it stays non-decreasing in `elapsedMs` down to the last bit (one
 * expression on each side of a seam where both agree exactly; an earlier `z + log1p(exp(-z))`
 * form was not, by one ulp, near the mean); and it never returns NaN: a NaN `y` counts as 0 and
 * `y` is clamped to +-1e6. The result is finite and >= 0.
 */
export function computePhi(elapsedMs: number, meanMs: number, stdDeviationMs: number): number {
  // A non-positive or NaN deviation degenerates to a step at the mean rather than to NaN.
  const deviation = stdDeviationMs > 0 ? stdDeviationMs : Number.MIN_VALUE;
  const rawY = (elapsedMs - meanMs) / deviation;
  const y = Number.isNaN(rawY) ? 0 : Math.min(Y_LIMIT, Math.max(-Y_LIMIT, rawY));
  const z = y * (1.5976 + 0.070566 * y * y);
  const softplus = z > SOFTPLUS_LINEAR_FROM ? z : Math.log1p(Math.exp(z));
  return softplus / Math.LN10;
}
