/* A cache of large array buffers for NumPy: a PyDataMem_Handler (NEP 49).
 *
 * Why: a fresh array of tens of MB is a new mmap whose pages the kernel zeroes on first
 * touch, and an munmap when it dies (glibc never keeps blocks over 32 MB). An elementwise
 * forward and backward over 1e7 floats makes and frees fifteen such arrays per call, and
 * that costs about a third of its time. PyTorch's CPU allocator pays the same; keeping the
 * freed blocks and handing them to the next allocation of the same size does not.
 *
 * Only allocations made while this handler is NumPy's current one (engine/array_cache.py
 * makes it current around the engine's large computations) come from here; each array
 * remembers its handler, so its free finds us wherever it happens. Blocks of at least
 * MIN_BYTES are rounded up to 2 MiB classes and kept on free while the cache holds less
 * than its limit; smaller ones are plain malloc/free. Every block carries a header with its
 * size, so nothing depends on the size NumPy passes back to free.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#define NPY_NO_DEPRECATED_API NPY_1_22_API_VERSION
#include <numpy/arrayobject.h>

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef __linux__
#include <sys/mman.h>
#endif

#define HEADER 64                  /* keeps the data 64-byte aligned */
#define CLASS (2u << 20)           /* size classes: 2 MiB, one huge page */
#define MIN_BYTES (4u << 20)       /* below this, glibc's own reuse is good enough */
#define SLOTS 64
#define MAGIC_SMALL 0x736d616c6cUL
#define MAGIC_LARGE 0x6c61726765UL

typedef struct { size_t magic, size; } header_t;  /* size: usable bytes after HEADER */

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static void *slots[SLOTS];         /* cached blocks (raw pointers), NULL where free */
static size_t cached_bytes, limit_bytes = (size_t)1 << 30;
static unsigned long long hits, misses;

static size_t class_of(size_t size) { return (size + HEADER + CLASS - 1) / CLASS * CLASS; }

static header_t *head(void *raw) { return (header_t *)raw; }

static void *fresh_large(size_t total) {
    void *raw = NULL;
    if (posix_memalign(&raw, CLASS, total) != 0) return NULL;
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    madvise(raw, total, MADV_HUGEPAGE);  /* as NumPy's default allocator does */
#endif
    return raw;
}

static void *take_cached(size_t total) {
    void *raw = NULL;
    pthread_mutex_lock(&lock);
    for (int i = 0; i < SLOTS; i++) {
        if (slots[i] != NULL && head(slots[i])->size + HEADER == total) {
            raw = slots[i];
            slots[i] = NULL;
            cached_bytes -= total;
            break;
        }
    }
    if (raw) hits++; else misses++;
    pthread_mutex_unlock(&lock);
    return raw;
}

static void *cache_malloc(void *ctx, size_t size) {
    (void)ctx;
    if (size < MIN_BYTES) {
        void *raw = malloc(size + HEADER);
        if (!raw) return NULL;
        head(raw)->magic = MAGIC_SMALL;
        head(raw)->size = size;
        return (char *)raw + HEADER;
    }
    size_t total = class_of(size);
    void *raw = take_cached(total);
    if (!raw) raw = fresh_large(total);
    if (!raw) return NULL;
    head(raw)->magic = MAGIC_LARGE;
    head(raw)->size = total - HEADER;
    return (char *)raw + HEADER;
}

static void *cache_calloc(void *ctx, size_t nelem, size_t elsize) {
    if (elsize != 0 && nelem > SIZE_MAX / elsize) return NULL;
    size_t size = nelem * elsize;
    void *p = cache_malloc(ctx, size);
    if (p) memset(p, 0, size);
    return p;
}

static void cache_free(void *ctx, void *ptr, size_t size) {
    (void)ctx; (void)size;
    if (ptr == NULL) return;
    void *raw = (char *)ptr - HEADER;
    if (head(raw)->magic != MAGIC_LARGE) {
        free(raw);
        return;
    }
    size_t total = head(raw)->size + HEADER;
    pthread_mutex_lock(&lock);
    if (cached_bytes + total <= limit_bytes) {
        for (int i = 0; i < SLOTS; i++) {
            if (slots[i] == NULL) {
                slots[i] = raw;
                cached_bytes += total;
                raw = NULL;
                break;
            }
        }
    }
    pthread_mutex_unlock(&lock);
    if (raw) free(raw);
}

static void *cache_realloc(void *ctx, void *ptr, size_t new_size) {
    if (ptr == NULL) return cache_malloc(ctx, new_size);
    void *raw = (char *)ptr - HEADER;
    size_t old = head(raw)->size;
    if (head(raw)->magic == MAGIC_LARGE && new_size <= old && new_size >= MIN_BYTES)
        return ptr;  /* the block's class still fits */
    void *p = cache_malloc(ctx, new_size);
    if (!p) return NULL;  /* the old block stays valid, as realloc promises */
    memcpy(p, ptr, old < new_size ? old : new_size);
    cache_free(ctx, ptr, old);
    return p;
}

static PyDataMem_Handler handler = {
    "engine_array_cache", 1,
    {NULL, cache_malloc, cache_calloc, cache_realloc, cache_free},
};

static PyObject *capsule;

/* use() -> token: makes the cache NumPy's handler in this context; restore(token) undoes. */
static PyObject *use(PyObject *self, PyObject *noargs) {
    return PyDataMem_SetHandler(capsule);
}

static PyObject *restore(PyObject *self, PyObject *token) {
    PyObject *previous = PyDataMem_SetHandler(token);
    if (!previous) return NULL;
    Py_DECREF(previous);
    Py_RETURN_NONE;
}

static void release_all(void) {
    void *raws[SLOTS];
    int n = 0;
    pthread_mutex_lock(&lock);
    for (int i = 0; i < SLOTS; i++) {
        if (slots[i]) { raws[n++] = slots[i]; slots[i] = NULL; }
    }
    cached_bytes = 0;
    pthread_mutex_unlock(&lock);
    for (int i = 0; i < n; i++) free(raws[i]);
}

static PyObject *empty_cache(PyObject *self, PyObject *noargs) {
    release_all();
    Py_RETURN_NONE;
}

static PyObject *set_limit(PyObject *self, PyObject *arg) {
    Py_ssize_t n = PyLong_AsSsize_t(arg);
    if (n == -1 && PyErr_Occurred()) return NULL;
    if (n < 0) {
        PyErr_SetString(PyExc_ValueError, "the cache limit must be >= 0 bytes");
        return NULL;
    }
    pthread_mutex_lock(&lock);
    limit_bytes = (size_t)n;
    int over = cached_bytes > limit_bytes;
    pthread_mutex_unlock(&lock);
    if (over) release_all();
    Py_RETURN_NONE;
}

static PyObject *stats(PyObject *self, PyObject *noargs) {
    pthread_mutex_lock(&lock);
    size_t c = cached_bytes, l = limit_bytes;
    unsigned long long h = hits, m = misses;
    pthread_mutex_unlock(&lock);
    return Py_BuildValue("{s:n,s:n,s:K,s:K,s:n}", "cached_bytes", (Py_ssize_t)c,
                         "limit_bytes", (Py_ssize_t)l, "hits", h, "misses", m,
                         "min_bytes", (Py_ssize_t)MIN_BYTES);
}

static PyMethodDef methods[] = {
    {"use", use, METH_NOARGS, "Make the cache NumPy's allocator here; returns a token."},
    {"restore", restore, METH_O, "Put back the allocator use() replaced."},
    {"empty_cache", empty_cache, METH_NOARGS, "Free every cached block."},
    {"set_limit", set_limit, METH_O, "Most bytes kept in freed blocks."},
    {"stats", stats, METH_NOARGS, "cached_bytes, limit_bytes, hits, misses, min_bytes."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_arraycache", NULL, -1, methods};

PyMODINIT_FUNC PyInit__arraycache(void) {
    import_array();
    PyObject *m = PyModule_Create(&module);
    if (!m) return NULL;
    capsule = PyCapsule_New(&handler, "mem_handler", NULL);
    if (!capsule || PyModule_AddObjectRef(m, "handler", capsule) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
