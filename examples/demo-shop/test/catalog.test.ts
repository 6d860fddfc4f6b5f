import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  Catalog,
  cheapestInCategory,
  distinctPricePoints,
  searchByName,
  searchByTag,
  type Product,
} from '../src/catalog';

const products: Product[] = [
  { sku: 'MUG-001', name: 'Enamel Mug', category: 'Kitchen', priceCents: 1290, tags: ['camping', 'Gift'] },
  { sku: 'MUG-002', name: 'Stoneware Mug', category: 'Kitchen', priceCents: 1490, tags: ['gift'] },
  { sku: 'PAN-010', name: 'Cast Iron Pan (26cm)', category: 'kitchen', priceCents: 3990, tags: ['cooking'] },
  { sku: 'TNT-200', name: 'Two-Person Tent', category: 'Outdoor', priceCents: 14900, tags: ['camping'] },
  { sku: 'LMP-050', name: 'Head Lamp', category: 'Outdoor', priceCents: 1290, tags: ['camping', 'gift'] },
  { sku: 'CAT-777', name: 'Smug Cat Poster', category: 'Decor', priceCents: 990, tags: [] },
];

describe('catalog', () => {
  describe('searchByTag', () => {
    it('matches tags case-insensitively and keeps catalogue order', () => {
      const skus = searchByTag(products, ' GIFT ').map((p) => p.sku);
      assert.deepEqual(skus, ['MUG-001', 'MUG-002', 'LMP-050']);
      assert.deepEqual(searchByTag(products, 'garden'), []);
    });
  });

  describe('searchByName', () => {
    it('matches the start of a word, ignoring case', () => {
      assert.deepEqual(
        searchByName(products, 'mug').map((p) => p.sku),
        ['MUG-001', 'MUG-002'],
      );
    });

    it('treats regular-expression characters in the query literally', () => {
      assert.deepEqual(
        searchByName(products, '26cm)').map((p) => p.sku),
        ['PAN-010'],
      );
    });
  });

  describe('cheapestInCategory', () => {
    it('finds the cheapest product, matching the category case-insensitively', () => {
      assert.equal(cheapestInCategory(products, 'KITCHEN')?.sku, 'MUG-001');
      assert.equal(cheapestInCategory(products, 'Garden'), undefined);
    });

    it('returns the first listed product when prices tie', () => {
      const tied = [...products, { ...products[3], sku: 'TNT-201', priceCents: 1290 }];
      assert.equal(cheapestInCategory(tied, 'Outdoor')?.sku, 'LMP-050');
    });
  });

  describe('distinctPricePoints', () => {
    it('lists each price once in first-seen order', () => {
      assert.deepEqual(distinctPricePoints(products), [1290, 1490, 3990, 14900, 990]);
    });

    it('keeps every unparseable (NaN) price from the supplier feed', () => {
      const feed = [
        { ...products[0], priceCents: Number('n/a') },
        { ...products[1], priceCents: 1490 },
        { ...products[2], priceCents: Number('') + Number.NaN },
      ];
      const points = distinctPricePoints(feed);
      assert.equal(points.length, 3);
      assert.ok(Number.isNaN(points[0]) && Number.isNaN(points[2]));
    });
  });

  describe('Catalog', () => {
    it('indexes products by SKU and reports its size', () => {
      const catalog = Catalog.fromProducts(products);
      assert.equal(catalog.size, 6);
      assert.equal(catalog.get('TNT-200')?.name, 'Two-Person Tent');
      assert.equal(catalog.get('NOPE'), undefined);
    });

    it('lets a later product replace one with the same SKU and finds products by tag', () => {
      const catalog = Catalog.fromProducts([products[0], { ...products[0], priceCents: 990 }]);
      assert.equal(catalog.size, 1);
      assert.equal(catalog.get('MUG-001')?.priceCents, 990);
      catalog.add(products[3]);
      assert.deepEqual(catalog.withTag('camping').map((p) => p.sku), ['MUG-001', 'TNT-200']);
    });

    it('exposes has() as a detachable callback', () => {
      const catalog = Catalog.fromProducts(products);
      assert.deepEqual(['MUG-001', 'XXX-000', 'CAT-777'].filter(catalog.has), ['MUG-001', 'CAT-777']);
    });
  });
});
