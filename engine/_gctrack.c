/* Graph storage the cyclic GC does not see: PyObject_GC_UnTrack / PyObject_GC_Track.
 *
 * Why: a graph node is a Python object with a few containers (its next_functions, saved
 * values), so a forward pass leaves several GC-tracked objects per op alive. Python starts a
 * full collection, which walks every tracked object of the process, each time the objects
 * surviving into the oldest generation grow by a quarter: over a long chain of ops that is
 * about a third of the forward's time, spent finding nothing (a graph is acyclic). PyTorch's
 * nodes are C++ objects the GC never sees; engine/graph.py hides ours the same way, and shows
 * them again (track) where a graph can become part of a cycle.
 *
 * Untracking is safe for memory: an untracked object's references count as references from
 * outside, so nothing it refers to is freed early. What it costs is that a cycle passing
 * through an untracked object is not collected.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

static PyObject *
untrack(PyObject *module, PyObject *const *args, Py_ssize_t n)
{
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *o = args[i];
        if (PyObject_IS_GC(o) && PyObject_GC_IsTracked(o))
            PyObject_GC_UnTrack(o);
    }
    Py_RETURN_NONE;
}

static PyObject *
track(PyObject *module, PyObject *const *args, Py_ssize_t n)
{
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *o = args[i];
        if (PyObject_IS_GC(o) && !PyObject_GC_IsTracked(o))
            PyObject_GC_Track(o);  /* tracking twice is a fatal error: hence the check */
    }
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"untrack", (PyCFunction)(void (*)(void))untrack, METH_FASTCALL,
     "untrack(*objects): the cyclic GC no longer sees these objects."},
    {"track", (PyCFunction)(void (*)(void))track, METH_FASTCALL,
     "track(*objects): the cyclic GC sees these objects (again)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_gctrack",
    "Objects hidden from, and shown again to, the cyclic GC (see engine/graph.py).", -1,
    methods,
};

PyMODINIT_FUNC
PyInit__gctrack(void)
{
    return PyModule_Create(&module);
}
