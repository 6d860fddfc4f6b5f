/** One line of a shopping cart. Prices are integer cents. */
export interface CartLine {
  sku: string;
  quantity: number;
  unitPriceCents: number;
}

/** A customer's cart. Guest carts use a `guest-…` customer id. */
export interface Cart {
  customerId: string;
  lines: CartLine[];
}

/** Price of one cart line in cents. */
export const lineTotal = ({ quantity, unitPriceCents }: CartLine): number => quantity * unitPriceCents;

/** Sum of all line totals in cents, before discounts and tax. */
export const cartSubtotal = (cart: Cart): number =>
  cart.lines.reduce((sum, line) => sum + lineTotal(line), 0);

/** Total number of units in the cart. */
export const itemCount = function itemCount(cart: Cart): number {
  let count = 0;
  for (const line of cart.lines) count += line.quantity;
  return count;
};

/**
 * Returns a new cart with `quantity` more units of `sku`. An existing line for the
 * SKU is increased (keeping its original unit price); otherwise a line is appended.
 * @throws RangeError when quantity is not a positive integer.
 */
export function addItem(cart: Cart, sku: string, unitPriceCents: number, quantity = 1): Cart {
  if (!Number.isInteger(quantity) || quantity <= 0) {
    throw new RangeError(`quantity must be a positive integer, got ${quantity}`);
  }
  const exists = cart.lines.some((line) => line.sku === sku);
  const lines = exists
    ? cart.lines.map((line) => (line.sku === sku ? { ...line, quantity: line.quantity + quantity } : line))
    : [...cart.lines, { sku, quantity, unitPriceCents }];
  return { ...cart, lines };
}

/** Returns a new cart without any line for `sku`. */
export function removeItem(cart: Cart, sku: string): Cart {
  return { ...cart, lines: cart.lines.filter((line) => line.sku !== sku) };
}

/**
 * Merges carts into the first one, e.g. a guest cart into the account cart at login.
 * Quantities of the same SKU are summed into the earliest line for that SKU, which
 * keeps its unit price; new SKUs are appended in the order they are met.
 */
export function mergeCarts(first: Cart, ...others: Cart[]): Cart {
  const lines: CartLine[] = first.lines.map((line) => ({ ...line }));
  for (const cart of others) {
    for (const line of cart.lines) {
      const existing = lines.find((l) => l.sku === line.sku);
      if (existing) existing.quantity += line.quantity;
      else lines.push({ ...line });
    }
  }
  return { customerId: first.customerId, lines };
}

/** Keeps only the lines whose SKU is in `availableSkus` (the result of a stock check). */
export function dropUnavailable(cart: Cart, availableSkus: string[]): Cart {
  return { ...cart, lines: cart.lines.filter((line) => availableSkus.includes(line.sku)) };
}
