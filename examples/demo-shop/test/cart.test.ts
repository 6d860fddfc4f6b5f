import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  addItem,
  cartSubtotal,
  dropUnavailable,
  itemCount,
  lineTotal,
  mergeCarts,
  removeItem,
  type Cart,
} from '../src/cart';

const accountCart: Cart = {
  customerId: 'cust-42',
  lines: [
    { sku: 'MUG-001', quantity: 2, unitPriceCents: 1290 },
    { sku: 'PAN-010', quantity: 1, unitPriceCents: 3990 },
  ],
};

const guestCart: Cart = {
  customerId: 'guest-9f1c',
  lines: [
    { sku: 'LMP-050', quantity: 1, unitPriceCents: 1290 },
    { sku: 'MUG-001', quantity: 1, unitPriceCents: 1190 },
  ],
};

describe('cart', () => {
  describe('totals', () => {
    it('lineTotal, cartSubtotal and itemCount add up quantities and prices', () => {
      assert.equal(lineTotal({ sku: 'MUG-001', quantity: 3, unitPriceCents: 1290 }), 3870);
      assert.equal(cartSubtotal(accountCart), 6570);
      assert.equal(itemCount(accountCart), 3);
      assert.equal(cartSubtotal({ customerId: 'c', lines: [] }), 0);
    });
  });

  describe('addItem / removeItem', () => {
    it('appends a new line with a default quantity of one', () => {
      const cart = addItem(accountCart, 'TNT-200', 14900);
      assert.deepEqual(cart.lines.at(-1), { sku: 'TNT-200', quantity: 1, unitPriceCents: 14900 });
      assert.equal(accountCart.lines.length, 2, 'input cart is not mutated');
    });

    it('increases an existing line and keeps its original price', () => {
      const cart = addItem(accountCart, 'MUG-001', 999, 3);
      assert.deepEqual(cart.lines[0], { sku: 'MUG-001', quantity: 5, unitPriceCents: 1290 });
    });

    it('rejects non-positive or fractional quantities', () => {
      assert.throws(() => addItem(accountCart, 'MUG-001', 1290, 0), RangeError);
      assert.throws(() => addItem(accountCart, 'MUG-001', 1290, 1.5), RangeError);
    });

    it('removes every line for the SKU', () => {
      assert.deepEqual(removeItem(accountCart, 'MUG-001').lines.map((l) => l.sku), ['PAN-010']);
    });
  });

  describe('mergeCarts', () => {
    it('sums quantities into the account cart and appends new SKUs', () => {
      const merged = mergeCarts(accountCart, guestCart);
      assert.equal(merged.customerId, 'cust-42');
      assert.deepEqual(merged.lines, [
        { sku: 'MUG-001', quantity: 3, unitPriceCents: 1290 },
        { sku: 'PAN-010', quantity: 1, unitPriceCents: 3990 },
        { sku: 'LMP-050', quantity: 1, unitPriceCents: 1290 },
      ]);
      assert.equal(accountCart.lines[0].quantity, 2, 'inputs are not mutated');
    });

    it('merges any number of carts, and a single cart into a copy of itself', () => {
      const third: Cart = { customerId: 'guest-2', lines: [{ sku: 'LMP-050', quantity: 4, unitPriceCents: 1290 }] };
      const merged = mergeCarts(accountCart, guestCart, third);
      assert.deepEqual(merged.lines.map((l) => [l.sku, l.quantity]), [
        ['MUG-001', 3],
        ['PAN-010', 1],
        ['LMP-050', 5],
      ]);
      assert.deepEqual(mergeCarts(accountCart), accountCart);
    });
  });

  describe('dropUnavailable', () => {
    it('keeps only lines whose SKU passed the stock check', () => {
      const cart = dropUnavailable(mergeCarts(accountCart, guestCart), ['LMP-050', 'MUG-001', 'TNT-200']);
      assert.deepEqual(cart.lines.map((l) => l.sku), ['MUG-001', 'LMP-050']);
    });
  });
});
