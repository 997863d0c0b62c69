/**
 * How the image runs every program (Dockerfile, runtime stage: `ENV`): memory settings read by
 * Node.js and glibc at start, not by the services. The stack starts its processes with the same,
 * so end-to-end tests and benchmarks measure what a deployment runs; tools/deploy-check checks
 * that the Dockerfile says the same.
 *
 * Issue #8 (each service under 200 MB resident at steady load): on the sale-day mix at 150 code
 * requests/s the services' live heap is 40–60 MB, yet they held 175–320 MB.
 */
export const RUNTIME_ENV: Readonly<Record<string, string>> = {
  // V8 sizes the old generation's growth from the heap limit: with the default limit (a quarter
  // of the host's memory, 4 GB on a 16 GB host) it lets garbage pile up to 2–4× the live heap
  // between full collections (notifier 280–340 MB with a backlog). With 256 MB it collects at
  // ~1.3× the live size (notifier 135–165 MB, at the price of ~20 full collections instead of 2
  // per 12,000 messages). The live heap stays far below it: ≈ 60 MB with a backlog (the queues'
  // prefetch bounds what is held).
  NODE_OPTIONS: '--max-old-space-size=256',
  // glibc malloc:
  // - arena_max=1: one arena instead of one per thread (8 × cores): each libuv and V8 thread's
  //   arena kept what it had freed (5–10 MB a service).
  // - mmap_threshold=4 MiB (fixed; glibc's adaptive threshold rises to the largest block freed):
  //   identity's argon2id takes 19 MiB per hash on a libuv thread, and with the adaptive
  //   threshold each block stayed in the heap after the hash, one per thread (+80 MB resident).
  //   Now each hash maps its block and unmaps it at the end.
  // - hugetlb=1: transparent huge pages (madvise) for those mappings, which keeps mapping
  //   19 MiB per hash cheap (and argon2id a little faster). On a host with THP off, a hash
  //   costs ~12 ms more system CPU.
  GLIBC_TUNABLES:
    'glibc.malloc.arena_max=1:glibc.malloc.mmap_threshold=4194304:glibc.malloc.hugetlb=1',
};
