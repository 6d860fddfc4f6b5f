import { cartSubtotal, type Cart } from './cart';

/** A coupon. `expires` is the last valid day, as YYYY-MM-DD. */
export interface Coupon {
  code: string;
  percentOff?: number;
  amountOffCents?: number;
  minSubtotalCents?: number;
  expires: string;
}

/** A multi-buy offer: `size` units for `priceCents`. */
export interface BundleOffer {
  size: number;
  priceCents: number;
}

/** The amounts a checkout page shows, all in cents. */
export interface PriceBreakdown {
  subtotalCents: number;
  discountCents: number;
  taxCents: number;
  totalCents: number;
}

/** Coupon codes are typed by hand: ignore spaces and case. */
function normalize(code: string): string {
  return code.replace(/\s+/g, '').toUpperCase();
}

const roundCents = function (value: number): number {
  return Math.round(value);
};

/** Finds a coupon by code, ignoring case and whitespace. */
export function findCoupon(coupons: Coupon[], code: string): Coupon | undefined {
  const wanted = normalize(code);
  return coupons.find((coupon) => normalize(coupon.code) === wanted);
}

/**
 * Discount in cents that `coupon` gives on `subtotalCents` on day `today` (YYYY-MM-DD).
 * Zero when expired or below the minimum spend; never more than the subtotal.
 */
export const couponDiscount = function couponDiscount(coupon: Coupon, subtotalCents: number, today: string): number {
  if (today > coupon.expires) return 0;
  if (subtotalCents < (coupon.minSubtotalCents ?? 0)) return 0;
  const percent = coupon.percentOff ? roundCents((subtotalCents * coupon.percentOff) / 100) : 0;
  return Math.min(subtotalCents, percent + (coupon.amountOffCents ?? 0));
};

/**
 * Cheapest way to buy exactly `quantity` units given multi-buy offers.
 * Returns Infinity when no combination of offers adds up to `quantity`.
 */
export function bestBundlePrice(quantity: number, offers: BundleOffer[]): number {
  if (quantity === 0) return 0;
  let best = Infinity;
  for (const { size, priceCents } of offers) {
    if (size > 0 && size <= quantity) {
      best = Math.min(best, priceCents + bestBundlePrice(quantity - size, offers));
    }
  }
  return best;
}

/** VAT rules by country. */
export const taxRules = {
  rates: { DE: 0.19, FR: 0.2, NL: 0.21, GB: 0.2, US: 0 } as Record<string, number | undefined>,

  /** VAT rate for an ISO country code, or `fallback` for unknown countries. */
  rateFor(country: string, fallback = 0.2): number {
    const code = country.toUpperCase();
    return Object.hasOwn(this.rates, code) ? (this.rates[code] ?? fallback) : fallback;
  },

  /** VAT in cents on a net amount. */
  taxOn(netCents: number, country: string): number {
    return roundCents(netCents * this.rateFor(country));
  },

  /** Human-readable label, e.g. "VAT 19%". */
  label: (country: string): string => `VAT ${Math.round(taxRules.rateFor(country) * 100)}%`,
};

/** Prices a cart: subtotal, coupon discount, VAT on the discounted amount, total. */
export function priceCart(
  cart: Cart,
  { today, coupon, country = 'DE' }: { today: string; coupon?: Coupon; country?: string },
): PriceBreakdown {
  const subtotalCents = cartSubtotal(cart);
  const discountCents = coupon ? couponDiscount(coupon, subtotalCents, today) : 0;
  const taxCents = taxRules.taxOn(subtotalCents - discountCents, country);
  return { subtotalCents, discountCents, taxCents, totalCents: subtotalCents - discountCents + taxCents };
}
