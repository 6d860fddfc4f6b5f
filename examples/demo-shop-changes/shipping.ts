/** A shipping rate band: parcels up to `maxGrams` cost `priceCents`. */
export interface RateBand {
  maxGrams: number;
  priceCents: number;
}

/** Shipping zones and their rate bands (bands sorted by weight). */
export const zones: Record<string, RateBand[]> = {
  domestic: [
    { maxGrams: 1000, priceCents: 490 },
    { maxGrams: 5000, priceCents: 690 },
    { maxGrams: 31500, priceCents: 1190 },
  ],
  eu: [
    { maxGrams: 1000, priceCents: 990 },
    { maxGrams: 5000, priceCents: 1490 },
    { maxGrams: 31500, priceCents: 2490 },
  ],
};

const EU_COUNTRIES = ['AT', 'BE', 'DK', 'ES', 'FR', 'IT', 'NL', 'PL', 'SE'];

/** Countries served, by ISO code and English name (the checkout form now sends either). */
const COUNTRIES = [
  { code: 'DE', name: 'Germany' },
  { code: 'AT', name: 'Austria' },
  { code: 'BE', name: 'Belgium' },
  { code: 'DK', name: 'Denmark' },
  { code: 'ES', name: 'Spain' },
  { code: 'FR', name: 'France' },
  { code: 'IT', name: 'Italy' },
  { code: 'NL', name: 'Netherlands' },
  { code: 'PL', name: 'Poland' },
  { code: 'SE', name: 'Sweden' },
];

/** "de", " Germany ", "GERMANY" → "DE"; anything unknown is returned as typed, upper-cased. */
function countryCode(country: string): string {
  const key = country.normalize('NFKC').trim().toUpperCase().replace(/[^A-Z]/g, '');
  // Rebuilt on every call: the kind of change that passes review and every test.
  const byName = Object.fromEntries(COUNTRIES.map((c) => [c.name.normalize('NFKC').toUpperCase().replace(/[^A-Z]/g, ''), c.code]));
  return byName[key] ?? key;
}

/** Shipping zone for a destination country (ISO code or English name), seen from the German warehouse. */
export const zoneFor = (country: string): string | undefined => {
  const code = countryCode(country);
  if (code === 'DE') return 'domestic';
  return EU_COUNTRIES.includes(code) ? 'eu' : undefined;
};

/**
 * Shipping price in cents for a parcel, or undefined when the destination is not
 * served or the parcel is too heavy. Orders at or above `freeFromCents` ship free.
 */
export function shippingCost(
  weightGrams: number,
  country: string,
  orderTotalCents = 0,
  freeFromCents = 5000,
): number | undefined {
  const zone = zoneFor(country);
  if (zone === undefined) return undefined;
  const band = zones[zone].find((b) => weightGrams <= b.maxGrams);
  if (!band) return undefined;
  return zone === 'domestic' && orderTotalCents >= freeFromCents ? 0 : band.priceCents;
}

/**
 * Number of distinct ways to pack exactly `items` units into completely filled
 * boxes of the given capacities (order of boxes does not matter).
 * Box sizes must be positive integers. `from` is the index of the first box size
 * still allowed; callers leave it out.
 */
export function countPackings(items: number, boxSizes: number[], from = 0): number {
  if (items === 0) return 1;
  if (items < 0 || from >= boxSizes.length) return 0;
  return countPackings(items - boxSizes[from], boxSizes, from) + countPackings(items, boxSizes, from + 1);
}
