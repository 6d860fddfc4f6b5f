;; Dot products of one query vector with every row of a packed f32 matrix, four lanes at a time.
;;
;; Why WebAssembly SIMD: V8 does not auto-vectorise the scalar JS loop in VectorStore.query
;; (it also widens every f32 to f64), which measured p95 46–71 ms at 50k x 256 on a 2-core
;; machine; this kernel does the same work in about 9 ms (memory bandwidth is the limit).
;;
;; The bytes of this module are embedded in vectors.ts (`dotsWasm`); test/unit/vectors.test.ts
;; compiles this file with the `wabt` package and fails if they differ, printing the new bytes.
;;
;; Memory is the module's own, exported as "mem"; VectorStore grows it and lays it out as
;;   [query: dims f32][matrix: capacity x dims f32][scores: capacity f32]
(module
  (memory (export "mem") 1)

  ;; For r in [0, rows): out[r] = sum over i < dims of m[r * dims + i] * q[i]  (all f32).
  ;; $m, $q and $out are byte addresses (16-byte aligned for speed, not for correctness).
  ;; $dims must be a multiple of 4 (the caller falls back to JS otherwise).
  ;; Summation order differs from a scalar loop: results agree to about 1e-6 for unit vectors.
  (func (export "dots") (param $m i32) (param $q i32) (param $rows i32) (param $dims i32) (param $out i32)
    (local $qend i32)   ;; end of the query vector
    (local $qend16 i32) ;; end of its largest prefix that is a multiple of 16 floats
    (local $oend i32)   ;; end of the output
    (local $p i32)      ;; walks the matrix: rows are contiguous, so it never resets
    (local $qq i32)     ;; walks the query, reset per row
    ;; Four independent accumulators: one f32x4.add chain per 4 floats would stall on the
    ;; add latency; four chains keep the loads busy (about 13% faster than one at 256 dims).
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128)
    (local.set $qend (i32.add (local.get $q) (i32.shl (local.get $dims) (i32.const 2))))
    (local.set $qend16 (i32.add (local.get $q) (i32.shl (i32.and (local.get $dims) (i32.const -16)) (i32.const 2))))
    (local.set $oend (i32.add (local.get $out) (i32.shl (local.get $rows) (i32.const 2))))
    (local.set $p (local.get $m))
    (block $done
      (loop $row
        (br_if $done (i32.ge_u (local.get $out) (local.get $oend)))
        (local.set $a0 (v128.const f32x4 0 0 0 0))
        (local.set $a1 (v128.const f32x4 0 0 0 0))
        (local.set $a2 (v128.const f32x4 0 0 0 0))
        (local.set $a3 (v128.const f32x4 0 0 0 0))
        (local.set $qq (local.get $q))
        ;; 16 floats per step
        (block $done16
          (loop $step16
            (br_if $done16 (i32.ge_u (local.get $qq) (local.get $qend16)))
            (local.set $a0 (f32x4.add (local.get $a0) (f32x4.mul (v128.load (local.get $p)) (v128.load (local.get $qq)))))
            (local.set $a1 (f32x4.add (local.get $a1) (f32x4.mul (v128.load offset=16 (local.get $p)) (v128.load offset=16 (local.get $qq)))))
            (local.set $a2 (f32x4.add (local.get $a2) (f32x4.mul (v128.load offset=32 (local.get $p)) (v128.load offset=32 (local.get $qq)))))
            (local.set $a3 (f32x4.add (local.get $a3) (f32x4.mul (v128.load offset=48 (local.get $p)) (v128.load offset=48 (local.get $qq)))))
            (local.set $p (i32.add (local.get $p) (i32.const 64)))
            (local.set $qq (i32.add (local.get $qq) (i32.const 64)))
            (br $step16)))
        ;; the remaining 0, 4, 8 or 12 floats, 4 per step
        (block $done4
          (loop $step4
            (br_if $done4 (i32.ge_u (local.get $qq) (local.get $qend)))
            (local.set $a0 (f32x4.add (local.get $a0) (f32x4.mul (v128.load (local.get $p)) (v128.load (local.get $qq)))))
            (local.set $p (i32.add (local.get $p) (i32.const 16)))
            (local.set $qq (i32.add (local.get $qq) (i32.const 16)))
            (br $step4)))
        ;; fold the accumulators, then the four lanes
        (local.set $a0 (f32x4.add (f32x4.add (local.get $a0) (local.get $a1)) (f32x4.add (local.get $a2) (local.get $a3))))
        (f32.store (local.get $out)
          (f32.add
            (f32.add (f32x4.extract_lane 0 (local.get $a0)) (f32x4.extract_lane 1 (local.get $a0)))
            (f32.add (f32x4.extract_lane 2 (local.get $a0)) (f32x4.extract_lane 3 (local.get $a0)))))
        (local.set $out (i32.add (local.get $out) (i32.const 4)))
        (br $row)))))
