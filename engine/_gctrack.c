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

static void
hide(PyObject *o)
{
    if (PyObject_IS_GC(o) && PyObject_GC_IsTracked(o))
        PyObject_GC_UnTrack(o);
}

static PyObject *
untrack(PyObject *module, PyObject *const *args, Py_ssize_t n)
{
    for (Py_ssize_t i = 0; i < n; i++)
        hide(args[i]);
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

/* hide_node(node): what Op._record hides for each node it records, in one call (it runs
 * once per op, and a Python version of it was a sixth of recording's time): the node, its
 * next_functions and their (node, output_nr) pairs, its saved dict with each value and each
 * SavedTensor's version counter (a list of them for cat, stack...), and its attrs dict.
 * Empty dicts are class defaults shared by every node: they are left alone. */
static PyTypeObject *saved_tensor_type;  /* engine.graph.SavedTensor, set by configure() */
static PyObject *str_next_functions, *str_saved, *str_attrs, *str_version;

static int
hide_saved_tensor(PyObject *s)
{
    hide(s);
    PyObject *version = PyObject_GetAttr(s, str_version);
    if (version == NULL)
        return -1;
    hide(version);
    Py_DECREF(version);
    return 0;
}

static int
hide_saved_value(PyObject *v)
{
    if (Py_TYPE(v) == saved_tensor_type)
        return hide_saved_tensor(v);
    hide(v);
    if (PyList_CheckExact(v)) {
        for (Py_ssize_t i = 0; i < PyList_GET_SIZE(v); i++) {
            PyObject *x = PyList_GET_ITEM(v, i);
            if (Py_TYPE(x) != saved_tensor_type)
                hide(x);
            else if (hide_saved_tensor(x))
                return -1;
        }
    }
    return 0;
}

static PyObject *
hide_node(PyObject *module, PyObject *node)
{
    if (saved_tensor_type == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "_gctrack.configure(SavedTensor) was not called");
        return NULL;
    }
    hide(node);
    PyObject *edges = PyObject_GetAttr(node, str_next_functions);
    if (edges == NULL)
        return NULL;
    hide(edges);
    if (PyTuple_CheckExact(edges))
        for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(edges); i++)
            hide(PyTuple_GET_ITEM(edges, i));
    Py_DECREF(edges);
    PyObject *saved = PyObject_GetAttr(node, str_saved);
    if (saved == NULL)
        return NULL;
    if (PyDict_CheckExact(saved) && PyDict_GET_SIZE(saved)) {
        hide(saved);
        Py_ssize_t pos = 0;
        PyObject *key, *value;
        while (PyDict_Next(saved, &pos, &key, &value)) {
            if (hide_saved_value(value)) {
                Py_DECREF(saved);
                return NULL;
            }
        }
    }
    Py_DECREF(saved);
    PyObject *attrs = PyObject_GetAttr(node, str_attrs);
    if (attrs == NULL)
        return NULL;
    if (PyDict_CheckExact(attrs) && PyDict_GET_SIZE(attrs))
        hide(attrs);
    Py_DECREF(attrs);
    Py_RETURN_NONE;
}

static PyObject *
configure(PyObject *module, PyObject *type)
{
    if (!PyType_Check(type)) {
        PyErr_SetString(PyExc_TypeError, "configure() takes the SavedTensor class");
        return NULL;
    }
    Py_INCREF(type);
    Py_XSETREF(saved_tensor_type, (PyTypeObject *)type);
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"hide_node", hide_node, METH_O,
     "hide_node(node): untrack a just-recorded node and what it alone holds."},
    {"configure", configure, METH_O, "configure(SavedTensor): the class hide_node looks for."},
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
    str_next_functions = PyUnicode_InternFromString("next_functions");
    str_saved = PyUnicode_InternFromString("saved");
    str_attrs = PyUnicode_InternFromString("attrs");
    str_version = PyUnicode_InternFromString("version");
    if (!str_next_functions || !str_saved || !str_attrs || !str_version)
        return NULL;
    return PyModule_Create(&module);
}
