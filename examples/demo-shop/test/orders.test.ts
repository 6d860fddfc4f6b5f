import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { dailyReport, orderFromCart, repeatCustomers, revenueByCustomer, topCustomers, type Order } from '../src/orders';
import { addItem, type Cart } from '../src/cart';
import { priceCart } from '../src/pricing';

const orders: Order[] = [
  { id: 'o1', customerId: 'ana', placedAt: '2024-03-01T09:15:00+01:00', totalCents: 4500, status: 'paid', skus: ['MUG-001'] },
  { id: 'o2', customerId: 'ben', placedAt: '2024-03-01T17:40:00+01:00', totalCents: 14900, status: 'paid', skus: ['TNT-200'] },
  { id: 'o3', customerId: 'ana', placedAt: '2024-03-02T08:05:00+01:00', totalCents: 1290, status: 'refunded', skus: ['LMP-050'] },
  { id: 'o4', customerId: 'cem', placedAt: '2024-02-29T23:59:00+01:00', totalCents: 3990, status: 'paid', skus: ['PAN-010'] },
  { id: 'o5', customerId: 'ana', placedAt: '2024-03-02T12:00:00+01:00', totalCents: 2580, status: 'paid', skus: ['MUG-002'] },
  { id: 'o6', customerId: 'dev', placedAt: '2024-03-02T12:30:00+01:00', totalCents: 990, status: 'pending', skus: ['CAT-777'] },
];

describe('orders', () => {
  describe('revenueByCustomer', () => {
    it('sums paid orders per customer and ignores refunded and pending ones', () => {
      assert.deepEqual(revenueByCustomer(orders), { ana: 7080, ben: 14900, cem: 3990 });
      assert.deepEqual(revenueByCustomer(orders.filter((o) => o.status !== 'paid')), {});
    });
  });

  describe('topCustomers', () => {
    it('ranks customers by revenue with a default of three', () => {
      assert.deepEqual(
        topCustomers(orders).map((c) => c.customerId),
        ['ben', 'ana', 'cem'],
      );
      assert.deepEqual(topCustomers(orders, 1), [{ customerId: 'ben', revenueCents: 14900 }]);
    });

    it('breaks revenue ties by customer id', () => {
      const tied = orders.map((o) => ({ ...o, totalCents: 1000, status: 'paid' as const }));
      assert.deepEqual(
        topCustomers(tied, 4).map((c) => c.customerId),
        ['ana', 'ben', 'cem', 'dev'],
      );
    });
  });

  describe('dailyReport', () => {
    it('groups by the calendar day written in the timestamp, oldest first', () => {
      assert.deepEqual(dailyReport(orders), [
        { day: '2024-02-29', orders: 1, revenueCents: 3990 },
        { day: '2024-03-01', orders: 2, revenueCents: 19400 },
        { day: '2024-03-02', orders: 3, revenueCents: 2580 },
      ]);
    });
  });

  describe('repeatCustomers', () => {
    it('lists customers with at least two orders in order of first purchase', () => {
      assert.deepEqual(repeatCustomers(orders), ['ana']);
      assert.deepEqual(repeatCustomers(orders, 1), ['ana', 'ben', 'cem', 'dev']);
      assert.deepEqual(repeatCustomers(orders, 4), []);
    });
  });

  describe('checkout', () => {
    it('turns a priced cart into a pending order', () => {
      let cart: Cart = { customerId: 'eve', lines: [] };
      cart = addItem(cart, 'MUG-001', 1290, 2);
      cart = addItem(cart, 'LMP-050', 1290);
      const price = priceCart(cart, { today: '2024-03-03', country: 'DE' });
      const order = orderFromCart('o7', cart, price, '2024-03-03T10:00:00+01:00');
      assert.deepEqual(order, {
        id: 'o7',
        customerId: 'eve',
        placedAt: '2024-03-03T10:00:00+01:00',
        totalCents: 4605,
        status: 'pending',
        skus: ['MUG-001', 'LMP-050'],
      });
    });
  });
});
