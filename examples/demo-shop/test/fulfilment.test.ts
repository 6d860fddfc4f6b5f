import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { StockLedger, parseStockSheet, reserveCart, stockLevels } from '../src/inventory';
import { countPackings, shippingCost, zoneFor } from '../src/shipping';
import type { Cart } from '../src/cart';

const sheet = [
  'sku,warehouse,quantity',
  'MUG-001,BER,40',
  'MUG-001,HAM,12',
  '',
  'PAN-010, BER ,3',
  'TNT-200,HAM,0\r',
  'LMP-050,BER,7',
].join('\n');

describe('inventory', () => {
  describe('parseStockSheet', () => {
    it('skips the header and blank lines and trims fields', () => {
      const entries = parseStockSheet(sheet);
      assert.equal(entries.length, 5);
      assert.deepEqual(entries[2], { sku: 'PAN-010', warehouse: 'BER', quantity: 3 });
      assert.deepEqual(entries[3], { sku: 'TNT-200', warehouse: 'HAM', quantity: 0 });
      assert.deepEqual(parseStockSheet('sku,warehouse,quantity\n'), []);
    });
  });

  describe('stockLevels', () => {
    it('sums quantities per SKU across warehouses', () => {
      assert.deepEqual(stockLevels(parseStockSheet(sheet)), {
        'MUG-001': 52,
        'PAN-010': 3,
        'TNT-200': 0,
        'LMP-050': 7,
      });
    });
  });

  describe('StockLedger', () => {
    it('subtracts open reservations from availability', () => {
      const ledger = new StockLedger({ 'MUG-001': 52, 'PAN-010': 3 });
      assert.equal(ledger.reserve('o1/MUG-001', 'MUG-001', 50), true);
      assert.equal(ledger.reserve('o2/MUG-001', 'MUG-001', 3), false);
      assert.equal(ledger.available('MUG-001'), 2);
      assert.equal(ledger.available('UNKNOWN'), 0);
    });

    it('release() frees units, commit() removes them from stock, ids are unique', () => {
      const ledger = new StockLedger({ 'PAN-010': 3 });
      ledger.reserve('a', 'PAN-010', 2);
      ledger.reserve('b', 'PAN-010', 1);
      assert.equal(ledger.release('a'), true);
      assert.equal(ledger.release('a'), false);
      ledger.commit('b');
      assert.equal(ledger.available('PAN-010'), 2);
      assert.throws(() => ledger.commit('b'), /unknown reservation/);
      ledger.reserve('c', 'PAN-010', 1);
      assert.throws(() => ledger.reserve('c', 'PAN-010', 1), /duplicate reservation/);
    });
  });

  describe('reserveCart', () => {
    const cart: Cart = {
      customerId: 'cust-42',
      lines: [
        { sku: 'MUG-001', quantity: 2, unitPriceCents: 1290 },
        { sku: 'PAN-010', quantity: 4, unitPriceCents: 3990 },
      ],
    };

    it('reserves all lines when everything is in stock', () => {
      const ledger = new StockLedger({ 'MUG-001': 52, 'PAN-010': 10 });
      assert.deepEqual(reserveCart(ledger, 'ord-1', cart), []);
      assert.equal(ledger.available('PAN-010'), 6);
    });

    it('reserves nothing and reports the short SKUs otherwise', () => {
      const ledger = new StockLedger({ 'MUG-001': 52, 'PAN-010': 3 });
      assert.deepEqual(reserveCart(ledger, 'ord-1', cart), ['PAN-010']);
      assert.equal(ledger.available('MUG-001'), 52);
    });
  });
});

describe('shipping', () => {
  it('maps countries to zones and prices parcels by weight band, with free domestic shipping over the threshold', () => {
    assert.equal(zoneFor('de'), 'domestic');
    assert.equal(zoneFor('FR'), 'eu');
    assert.equal(zoneFor('US'), undefined);
    assert.equal(shippingCost(800, 'DE'), 490);
    assert.equal(shippingCost(1200, 'NL', 9000), 1490);
    assert.equal(shippingCost(1200, 'DE', 9000), 0);
    assert.equal(shippingCost(1200, 'DE', 9000, 10000), 690);
    assert.equal(shippingCost(40000, 'DE'), undefined);
    assert.equal(shippingCost(500, 'US'), undefined);
  });

  it('counts the ways to fill boxes exactly', () => {
    assert.equal(countPackings(0, [2, 3]), 1);
    assert.equal(countPackings(7, [2, 3]), 1);
    assert.equal(countPackings(12, [2, 3, 6]), 6);
    assert.equal(countPackings(5, [4]), 0);
    assert.equal(countPackings(40, [1, 5, 10, 20]), 35);
  });
});
