/** A product as listed in the shop catalogue. Prices are integer cents. */
export interface Product {
  sku: string;
  name: string;
  category: string;
  priceCents: number;
  tags: string[];
}

/** Lower-cases and trims free text so comparisons ignore case and stray spaces. */
function normalize(value: string): string {
  return value.trim().toLowerCase();
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * Returns the products carrying `tag`, compared case-insensitively.
 * Products keep their catalogue order.
 */
export function searchByTag(products: Product[], tag: string): Product[] {
  const wanted = normalize(tag);
  return products.filter((product) => product.tags.some((t) => normalize(t) === wanted));
}

/**
 * Finds products with a word in their name that starts with `query`
 * (case-insensitive), e.g. "mug" matches "Enamel Mug" but not "Smug Cat".
 */
export const searchByName = (products: Product[], query: string): Product[] => {
  const results: Product[] = [];
  for (const product of products) {
    const pattern = new RegExp(`\\b${escapeRegExp(query.trim())}`, 'i');
    if (pattern.test(product.name)) results.push(product);
  }
  return results;
};

/**
 * The cheapest product in a category, or `undefined` when the category is empty.
 * When several products share the lowest price the one listed first wins.
 */
export function cheapestInCategory(products: Product[], category: string): Product | undefined {
  const wanted = normalize(category);
  const inCategory = products.filter((product) => normalize(product.category) === wanted);
  const sorted = [...inCategory].sort((a, b) => a.priceCents - b.priceCents);
  return sorted[0];
}

/**
 * Distinct price points for the storefront's price filter, in first-seen order.
 * Prices come from a supplier feed, so unparseable prices arrive as NaN.
 */
export function distinctPricePoints(products: Product[]): number[] {
  const points: number[] = [];
  for (const { priceCents } of products) {
    if (points.indexOf(priceCents) === -1) points.push(priceCents);
  }
  return points;
}

/** An in-memory catalogue indexed by SKU. */
export class Catalog {
  private readonly bySku = new Map<string, Product>();

  /** Builds a catalogue; a later product with the same SKU replaces the earlier one. */
  static fromProducts(products: Product[]): Catalog {
    const catalog = new Catalog();
    for (const product of products) catalog.add(product);
    return catalog;
  }

  /** Number of distinct SKUs listed. */
  get size(): number {
    return this.bySku.size;
  }

  /** True when the SKU is listed. An arrow field so it can be passed around as a callback. */
  has = (sku: string): boolean => this.bySku.has(sku);

  /** Adds or replaces a product. */
  add(product: Product): void {
    this.bySku.set(product.sku, product);
  }

  /** Looks a product up by SKU. */
  get(sku: string): Product | undefined {
    return this.bySku.get(sku);
  }

  /** All listed products carrying `tag`, in insertion order. */
  withTag(tag: string): Product[] {
    return searchByTag([...this.bySku.values()], tag);
  }
}
