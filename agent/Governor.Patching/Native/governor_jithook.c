/*
 * The patch engine's JIT hook: the replacement of ICorJitCompiler::compileMethod (vtable slot 0
 * of the object returned by libclrjit's getJit()). See Native/JitHook.cs, which installs it and
 * shares its state with it through struct governor_jithook_config (native memory allocated by the
 * engine; the layout is checked with governor_jithook_abi before anything is used).
 *
 * Why native: the runtime reports failures inside a compilation (a missing assembly, a type that
 * cannot load) as C++ exceptions that unwind from the EE through the JIT back to the runtime code
 * that called compileMethod, which turns them into the managed exception the app's caller gets.
 * A managed [UnmanagedCallersOnly] frame in between cannot be unwound by the C++ unwinder, so the
 * process aborted ("terminate called after throwing an instance of 'PAL_SEHException'"). This hook
 * is plain C built with -fexceptions and unwind tables: an exception passes through its frame, and
 * the cleanup attribute undoes its bookkeeping (the in-flight count and thread slot) on the way.
 * It never calls managed code, allocates nothing and takes no lock.
 */
#include <stdint.h>
#include <pthread.h>
#include <sys/prctl.h>

#define GOVERNOR_EXPORT __attribute__((visibility("default")))

/* Bumped whenever struct governor_jithook_config changes; JitHook.cs checks (version << 16) | size. */
#define GOVERNOR_JITHOOK_VERSION 1

#define CORJIT_SKIPPED ((int32_t)0x80000004)

typedef int32_t (*compile_method_fn)(void *jit, void *jit_info, void *method_info, uint32_t flags,
                                     uint8_t **native_entry, uint32_t *native_size);

/* Mirrored by JitHook.Config (C#), field for field. */
struct governor_jithook_config {
    compile_method_fn real_compile_method;

    /* TargetTable: method handle -> TargetState*, open addressing, insert-only. */
    intptr_t *table_keys;
    void **table_values;
    int32_t table_mask;        /* capacity - 1 (capacity is a power of two) */
    int32_t table_hash_shift;  /* 64 - log2(capacity) */

    /* Offsets of the TargetState fields the hook reads and writes. */
    int32_t off_active;
    int32_t off_has_code;
    int32_t off_has_loops;
    int32_t off_slot_count;
    int32_t off_last_slot;
    int32_t off_substitutions;
    int32_t off_osr_skips;
    int32_t off_declined_tier_ups;
    int32_t off_entries;
    int32_t off_codes;

    /* 1 when process settings rule out tier0 code with patchpoints after the first compilation. */
    int32_t loop_tier_up_is_optimized;

    /* Ring of the last compilations (method, real code), indexed by the compilation count. */
    int32_t ring_mask;
    intptr_t *ring_methods;
    intptr_t *ring_codes;
    int64_t compilations;

    /* Compilations inside the hook, counted in two buckets by the phase they entered in, and the
       threads they run on (see JitHook.WaitForCompilationsInFlight). */
    int32_t phase;
    int32_t in_flight[2];
    int32_t in_flight_slots;
    intptr_t *in_flight_threads;
    int32_t *in_flight_buckets;
};

static struct governor_jithook_config *volatile g_config;

#define FIELD(state, offset, type) ((type *)((char *)(state) + (offset)))
#define LOAD(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define INCREMENT(p) __atomic_add_fetch((p), 1, __ATOMIC_SEQ_CST)
#define DECREMENT(p) __atomic_sub_fetch((p), 1, __ATOMIC_SEQ_CST)

static void *find_target(const struct governor_jithook_config *c, intptr_t method)
{
    uint32_t index = (uint32_t)(((uint64_t)method * 0x9E3779B97F4A7C15ULL) >> c->table_hash_shift) & (uint32_t)c->table_mask;
    for (int32_t probe = 0; probe <= c->table_mask; probe++) {
        intptr_t key = LOAD(&c->table_keys[index]);
        if (key == method) {
            return LOAD(&c->table_values[index]);
        }

        if (key == 0) {
            return 0;
        }

        index = (index + 1) & (uint32_t)c->table_mask;
    }

    return 0;
}

/* The runtime's tiering worker, named ".NET Tiered Com" (15 characters, as the kernel truncates it). */
static int is_tiering_worker(void)
{
    union {
        char text[16];
        uint64_t words[2];
    } name = { { 0 } };
    if (prctl(PR_GET_NAME, (unsigned long)name.text, 0, 0, 0) != 0) {
        return 0;
    }

    return name.words[0] == 0x6569542054454E2EULL && name.words[1] == 0x006D6F4320646572ULL;
}

/*
 * With OSR and dynamic PGO on, the tier-up of a method with loops is an instrumented tier0
 * compilation with patchpoints: redirecting it would crash at its first OSR transition, and
 * publishing it unredirected would lose calls. So it is declined while the target is patched.
 */
static int declines_tier_up(const struct governor_jithook_config *c, void *state)
{
    return !c->loop_tier_up_is_optimized && LOAD(FIELD(state, c->off_active, int32_t)) != 0
        && LOAD(FIELD(state, c->off_has_loops, int32_t)) != 0 && LOAD(FIELD(state, c->off_has_code, int32_t)) != 0
        && is_tiering_worker();
}

static void on_compiled(const struct governor_jithook_config *c, void *state, uint8_t **native_entry)
{
    int had_code = __atomic_exchange_n(FIELD(state, c->off_has_code, int32_t), 1, __ATOMIC_SEQ_CST) != 0;
    if (LOAD(FIELD(state, c->off_active, int32_t)) == 0) {
        return;
    }

    if (had_code ? !is_tiering_worker() : LOAD(FIELD(state, c->off_has_loops, int32_t)) != 0) {
        /* A recompilation on a thread other than the tiering worker is an OSR variant; the first
           compilation of a method with loops is tier0 code with patchpoints (hot-patched once
           published). Neither is redirected. */
        INCREMENT(FIELD(state, c->off_osr_skips, int64_t));
        return;
    }

    int64_t *entries = FIELD(state, c->off_entries, int64_t);
    int64_t *codes = FIELD(state, c->off_codes, int64_t);
    int32_t slot = INCREMENT(FIELD(state, c->off_last_slot, int32_t));
    int32_t slots = LOAD(FIELD(state, c->off_slot_count, int32_t));
    if (slot >= slots) {
        /* Out of slots: keep calling the newest recorded original (valid, only an older tier). */
        *native_entry = (uint8_t *)(intptr_t)entries[slots - 1];
        INCREMENT(FIELD(state, c->off_substitutions, int64_t));
        return;
    }

    /* The code is not in place yet (W^X copies it after we return): entry `slot` publishes it as
       the original (TargetState.Promote) when it first runs, which proves the copy is done. */
    STORE(&codes[slot], (int64_t)(intptr_t)*native_entry);
    *native_entry = (uint8_t *)(intptr_t)entries[slot];
    INCREMENT(FIELD(state, c->off_substitutions, int64_t));
}

struct in_flight {
    struct governor_jithook_config *config;
    int32_t bucket;
    int32_t slot;
};

/* Runs when compile_method's frame is left, by return or by an exception unwinding through it. */
static void leave(struct in_flight *entry)
{
    struct governor_jithook_config *c = entry->config;
    DECREMENT(&c->in_flight[entry->bucket]);
    if (entry->slot >= 0) {
        STORE(&c->in_flight_threads[entry->slot], 0);
    }
}

GOVERNOR_EXPORT int32_t governor_jithook_compile_method(void *jit, void *jit_info, void *method_info, uint32_t flags,
                                                        uint8_t **native_entry, uint32_t *native_size)
{
    struct governor_jithook_config *c = LOAD(&g_config);
    int32_t bucket = LOAD(&c->phase) & 1;

    /* Claimed before counting: a waiter that sees the count also sees whose it is. */
    int32_t slot = -1;
    intptr_t self = (intptr_t)pthread_self();
    for (int32_t i = 0; i < c->in_flight_slots; i++) {
        intptr_t expected = 0;
        if (LOAD(&c->in_flight_threads[i]) == 0
            && __atomic_compare_exchange_n(&c->in_flight_threads[i], &expected, self, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
            STORE(&c->in_flight_buckets[i], bucket);
            slot = i;
            break;
        }
    }

    INCREMENT(&c->in_flight[bucket]);
    struct in_flight guard __attribute__((cleanup(leave))) = { c, bucket, slot };

    /* CORINFO_METHOD_INFO starts with the method handle. */
    intptr_t method = *(intptr_t *)method_info;
    void *target = find_target(c, method);
    if (target != 0 && declines_tier_up(c, target)) {
        INCREMENT(FIELD(target, c->off_declined_tier_ups, int64_t));
        return CORJIT_SKIPPED;
    }

    /* May throw (a C++ exception from the EE): it unwinds through this frame, running leave(). */
    int32_t result = c->real_compile_method(jit, jit_info, method_info, flags, native_entry, native_size);
    if (result == 0) {
        int64_t position = INCREMENT(&c->compilations);
        int32_t index = (int32_t)(position & c->ring_mask);
        STORE(&c->ring_codes[index], (intptr_t)*native_entry);
        STORE(&c->ring_methods[index], method);
        if (target != 0) {
            on_compiled(c, target, native_entry);
        }
    }

    return result;
}

/* (version << 16) | sizeof(struct governor_jithook_config): JitHook.cs refuses a library that differs. */
GOVERNOR_EXPORT int32_t governor_jithook_abi(void)
{
    return (GOVERNOR_JITHOOK_VERSION << 16) | (int32_t)sizeof(struct governor_jithook_config);
}

/* Points the hook at its configuration. Called before the hook is installed (and by its own
   check, which runs it with a stand-in compiler); the configuration is never freed. */
GOVERNOR_EXPORT void governor_jithook_configure(struct governor_jithook_config *config)
{
    STORE(&g_config, config);
}
