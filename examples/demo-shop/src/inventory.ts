import type { Cart } from './cart';

/** One row of the warehouse stock sheet. */
export interface StockEntry {
  sku: string;
  warehouse: string;
  quantity: number;
}

/**
 * Parses the nightly stock export: a header line, then `sku,warehouse,quantity`
 * per line. Blank lines are skipped; Windows line endings are tolerated.
 */
export function parseStockSheet(sheet: string): StockEntry[] {
  const entries: StockEntry[] = [];
  for (let i = 1; i < sheet.split('\n').length; i++) {
    const line = sheet.split('\n')[i].trim();
    if (line === '') continue;
    const [sku, warehouse, quantity] = line.split(',');
    entries.push({ sku: sku.trim(), warehouse: warehouse.trim(), quantity: Number(quantity) });
  }
  return entries;
}

/** Total on-hand units per SKU, summed across warehouses. */
export function stockLevels(entries: StockEntry[]): Record<string, number> {
  return entries.reduce<Record<string, number>>(
    (acc, { sku, quantity }) => Object.assign({}, acc, { [sku]: (acc[sku] ?? 0) + quantity }),
    {},
  );
}

/** Tracks on-hand stock and the units held by open reservations. */
export class StockLedger {
  private readonly onHand: Map<string, number>;
  private readonly reservations = new Map<string, { sku: string; quantity: number }>();

  constructor(levels: Record<string, number>) {
    this.onHand = new Map(Object.entries(levels));
  }

  /** Units that can still be reserved: on hand minus all open reservations. */
  available(sku: string): number {
    let reserved = 0;
    for (const reservation of this.reservations.values()) {
      if (reservation.sku === sku) reserved += reservation.quantity;
    }
    return (this.onHand.get(sku) ?? 0) - reserved;
  }

  /** Holds `quantity` units under `reservationId`. Returns false if not enough stock. */
  reserve(reservationId: string, sku: string, quantity: number): boolean {
    this.assertNewId(reservationId);
    if (quantity <= 0 || this.available(sku) < quantity) return false;
    this.reservations.set(reservationId, { sku, quantity });
    return true;
  }

  /** Cancels a reservation. Returns false if there was none. */
  release(reservationId: string): boolean {
    return this.reservations.delete(reservationId);
  }

  /** Turns a reservation into a shipment: the units leave on-hand stock. */
  commit(reservationId: string): void {
    const reservation = this.reservations.get(reservationId);
    if (!reservation) throw new Error(`unknown reservation ${reservationId}`);
    this.reservations.delete(reservationId);
    this.onHand.set(reservation.sku, (this.onHand.get(reservation.sku) ?? 0) - reservation.quantity);
  }

  private assertNewId(reservationId: string): void {
    if (this.reservations.has(reservationId)) throw new Error(`duplicate reservation ${reservationId}`);
  }
}

/**
 * Reserves every line of a cart, all or nothing. Reservation ids are
 * `<orderId>/<sku>`. Returns the SKUs that could not be reserved (empty on success).
 */
export function reserveCart(ledger: StockLedger, orderId: string, cart: Cart): string[] {
  const made: string[] = [];
  const missing: string[] = [];
  for (const { sku, quantity } of cart.lines) {
    const id = `${orderId}/${sku}`;
    if (ledger.reserve(id, sku, quantity)) made.push(id);
    else missing.push(sku);
  }
  if (missing.length > 0) made.forEach((id) => ledger.release(id));
  return missing;
}
