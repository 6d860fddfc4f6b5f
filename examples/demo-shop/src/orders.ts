import type { Cart } from './cart';
import type { PriceBreakdown } from './pricing';

export type OrderStatus = 'pending' | 'paid' | 'refunded';

/** A placed order. `placedAt` is an ISO-8601 timestamp in the shop's local time. */
export interface Order {
  id: string;
  customerId: string;
  placedAt: string;
  totalCents: number;
  status: OrderStatus;
  skus: string[];
}

/** One row of the daily sales report. */
export interface DailyRow {
  day: string;
  orders: number;
  revenueCents: number;
}

/** Calendar day (YYYY-MM-DD) as written in the timestamp, without time-zone conversion. */
function dayOf(isoTimestamp: string): string {
  return isoTimestamp.slice(0, 10);
}

/** Creates a pending order from a priced cart. The time is passed in, never read from the clock. */
export function orderFromCart(id: string, cart: Cart, price: PriceBreakdown, placedAt: string): Order {
  return {
    id,
    customerId: cart.customerId,
    placedAt,
    totalCents: price.totalCents,
    status: 'pending',
    skus: cart.lines.map((line) => line.sku),
  };
}

/** Revenue per customer in cents, counting paid orders only. */
export function revenueByCustomer(orders: Order[]): Record<string, number> {
  return orders
    .filter((order) => order.status === 'paid')
    .reduce<Record<string, number>>(
      (acc, order) => ({ ...acc, [order.customerId]: (acc[order.customerId] ?? 0) + order.totalCents }),
      {},
    );
}

/** The `n` best customers by paid revenue, highest first; ties broken by customer id. */
export const topCustomers = (orders: Order[], n = 3): Array<{ customerId: string; revenueCents: number }> =>
  Object.entries(revenueByCustomer(orders))
    .map(([customerId, revenueCents]) => ({ customerId, revenueCents }))
    .sort((a, b) => b.revenueCents - a.revenueCents || a.customerId.localeCompare(b.customerId))
    .slice(0, n);

/**
 * Orders and paid revenue per calendar day, oldest day first.
 * Every order counts towards `orders`; only paid ones towards `revenueCents`.
 */
export function dailyReport(orders: Order[]): DailyRow[] {
  const byDay: Record<string, DailyRow> = {};
  for (const order of orders) {
    const day = dayOf(order.placedAt);
    if (!Object.keys(byDay).includes(day)) byDay[day] = { day, orders: 0, revenueCents: 0 };
    byDay[day].orders += 1;
    if (order.status === 'paid') byDay[day].revenueCents += order.totalCents;
  }
  return Object.keys(byDay)
    .sort()
    .map((day) => byDay[day]);
}

/** Customers who placed at least `minOrders` orders (any status), in order of first purchase. */
export function repeatCustomers(orders: Order[], minOrders = 2): string[] {
  const result: string[] = [];
  for (const order of orders) {
    const count = orders.filter((o) => o.customerId === order.customerId).length;
    if (count >= minOrders && !result.includes(order.customerId)) result.push(order.customerId);
  }
  return result;
}
