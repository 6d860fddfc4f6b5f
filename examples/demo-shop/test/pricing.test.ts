import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { bestBundlePrice, couponDiscount, findCoupon, priceCart, taxRules, type Coupon } from '../src/pricing';
import type { Cart } from '../src/cart';

const coupons: Coupon[] = [
  { code: 'SPRING10', percentOff: 10, expires: '2024-05-31' },
  { code: 'WELCOME5', amountOffCents: 500, minSubtotalCents: 2500, expires: '2024-12-31' },
];

const cart: Cart = {
  customerId: 'cust-42',
  lines: [
    { sku: 'MUG-001', quantity: 2, unitPriceCents: 1290 },
    { sku: 'PAN-010', quantity: 1, unitPriceCents: 3990 },
  ],
};

describe('pricing', () => {
  describe('coupons', () => {
    it('findCoupon ignores case and spaces in the typed code', () => {
      assert.equal(findCoupon(coupons, ' spring 10 ')?.code, 'SPRING10');
      assert.equal(findCoupon(coupons, 'SUMMER'), undefined);
    });

    it('couponDiscount applies percentage and fixed amounts', () => {
      assert.equal(couponDiscount(coupons[0], 6570, '2024-05-01'), 657);
      assert.equal(couponDiscount(coupons[1], 6570, '2024-05-01'), 500);
      const big: Coupon = { code: 'SORRY', amountOffCents: 10000, expires: '2099-01-01' };
      assert.equal(couponDiscount(big, 4200, '2024-01-01'), 4200, 'never more than the subtotal');
    });

    it('couponDiscount is zero when expired or below the minimum spend', () => {
      assert.equal(couponDiscount(coupons[0], 6570, '2024-06-01'), 0);
      assert.equal(couponDiscount(coupons[0], 6570, '2024-05-31'), 657, 'expiry day itself is still valid');
      assert.equal(couponDiscount(coupons[1], 2499, '2024-05-01'), 0);
    });
  });

  describe('bestBundlePrice', () => {
    const offers = [
      { size: 1, priceCents: 300 },
      { size: 3, priceCents: 800 },
      { size: 6, priceCents: 1500 },
    ];

    it('combines offers to the cheapest total, or Infinity when impossible', () => {
      assert.equal(bestBundlePrice(0, offers), 0);
      assert.equal(bestBundlePrice(4, offers), 1100);
      assert.equal(bestBundlePrice(14, offers), 3600);
      assert.equal(bestBundlePrice(5, [{ size: 2, priceCents: 500 }, { size: 4, priceCents: 900 }]), Infinity);
    });

    it('handles a realistic bulk order of 18 units', () => {
      assert.equal(bestBundlePrice(18, [...offers, { size: 4, priceCents: 1000 }]), 4500);
    });
  });

  describe('taxRules', () => {
    it('looks up VAT rates (with a fallback), rounds tax and builds a label', () => {
      assert.equal(taxRules.rateFor('de'), 0.19);
      assert.equal(taxRules.rateFor('US'), 0);
      assert.equal(taxRules.rateFor('CH'), 0.2);
      assert.equal(taxRules.rateFor('constructor', 0.077), 0.077);
      assert.equal(taxRules.taxOn(5913, 'DE'), 1123);
      assert.equal(taxRules.label('NL'), 'VAT 21%');
    });
  });

  describe('priceCart', () => {
    it('applies the coupon before tax', () => {
      assert.deepEqual(priceCart(cart, { today: '2024-05-01', coupon: coupons[0] }), {
        subtotalCents: 6570,
        discountCents: 657,
        taxCents: 1123,
        totalCents: 7036,
      });
    });

    it('uses the destination country and works without a coupon', () => {
      assert.deepEqual(priceCart(cart, { today: '2024-05-01', country: 'FR' }), {
        subtotalCents: 6570,
        discountCents: 0,
        taxCents: 1314,
        totalCents: 7884,
      });
    });
  });
});
