// Growing the WebAssembly heap up front.
//
// Automerge and Loro run as WebAssembly. Under Node 20 (V8 11.3) every growth of a
// WebAssembly memory re-registers the whole memory as new external memory, and past
// ~64 MiB that forces a full GC, over the whole JS heap, per growth step. The allocator
// inside the module grows the memory in small steps as it needs them, so building a large
// document, or a sync that needs more memory than the heap has, spends most of its time in
// GC (with Automerge at N=100000, A=10000: ~98 s of a 108 s sync). That is an artefact of
// this Node version, not of the library, so the benchmark takes it out: before anything
// else the module's own allocator is asked for one large block, which is freed at once.
// The memory grows once, the allocator keeps the block as free space and later
// allocations come out of it. The block is never written, so its pages are never touched
// and RSS does not change (resident memory is only what the library really uses).
//
// To reach the allocator, the instances are recorded while the library loads: this module
// must be imported before the library, and release() called after it.
const Original = WebAssembly.Instance;
const instances = [];
WebAssembly.Instance = new Proxy(Original, {
  construct(target, args, newTarget) {
    const instance = Reflect.construct(target, args, newTarget === WebAssembly.Instance ? target : newTarget);
    instances.push(instance);
    return instance;
  },
});

export function release() {
  WebAssembly.Instance = Original;
}

// Grows each recorded module's heap to at least `mib` MiB. Returns a description, or null
// if no module could be reached.
export function reserveWasmHeap(mib) {
  const done = [];
  for (const instance of instances) {
    const { memory, __wbindgen_malloc: malloc, __wbindgen_free: free } = instance.exports;
    if (!(memory instanceof WebAssembly.Memory) || typeof malloc !== "function" || typeof free !== "function") continue;
    const target = mib * 1024 * 1024;
    const have = memory.buffer.byteLength;
    if (have < target) {
      const size = target - have;
      const ptr = malloc(size, 1);
      if (!ptr) throw new Error("wasm heap reservation failed");
      free(ptr, size, 1);
    }
    done.push(`${(memory.buffer.byteLength / 1048576).toFixed(0)} MiB`);
  }
  return done.length ? done.join(", ") : null;
}
