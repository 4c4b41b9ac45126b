// The Python interpreter embedded in flowsql, and what the python connector needs to
// talk to it through the CPython C API without exceptions: references that release
// themselves, the GIL taken and given back by scope, Python errors as Status with
// their traceback, and Arrow data through the Arrow PyCapsule interface
// (__arrow_c_schema__, __arrow_c_array__), without a copy.
//
// The interpreter is the Python FLOWSQL_PYTHON names (an installed wheel's
// `flowsql` command sets it to its own), else the virtual environment VIRTUAL_ENV
// names, else the one flowsql was built with (the project's .venv); in the Python
// package, the Python that imported it. It is started once, on first use, with its own
// signal handlers off (flowsql's Ctrl-C handling stays) and the working folder first on
// sys.path, as `python -c` has it. It is never finalized: Python objects may be alive in
// other threads when the process ends.
#pragma once

#include <Python.h>
#include <arrow/record_batch.h>
#include <arrow/type.h>

#include <map>
#include <memory>
#include <string>

#include "flowsql/status.h"

namespace flowsql::python {

/// Starts the interpreter, once for the process; later calls return its status.
/// Thread-safe. When it starts one, afterwards no thread holds the GIL. In a process
/// where Python already runs (flowsql loaded as a Python module) it starts nothing and
/// leaves the GIL as it was: a caller that holds it must release it before waiting on
/// threads that take it (Gil).
Status EnsureInterpreter();

/// Holds the GIL for its scope. REQUIRES: EnsureInterpreter() succeeded.
class Gil {
 public:
  Gil() : state_(PyGILState_Ensure()) {}
  ~Gil() { PyGILState_Release(state_); }
  Gil(const Gil&) = delete;
  Gil& operator=(const Gil&) = delete;

 private:
  PyGILState_STATE state_;
};

/// An owned reference (nullptr allowed). Copies and destruction need the GIL.
class Ref {
 public:
  Ref() = default;
  /// Takes `p` (a new reference, as most C API calls return).
  explicit Ref(PyObject* p) : p_(p) {}
  static Ref Borrow(PyObject* p) {
    Py_XINCREF(p);
    return Ref(p);
  }
  Ref(const Ref& o) : p_(o.p_) { Py_XINCREF(p_); }
  Ref(Ref&& o) noexcept : p_(o.p_) { o.p_ = nullptr; }
  Ref& operator=(Ref o) {
    std::swap(p_, o.p_);
    return *this;
  }
  ~Ref() { Py_XDECREF(p_); }

  PyObject* get() const { return p_; }
  explicit operator bool() const { return p_ != nullptr; }

 private:
  PyObject* p_ = nullptr;
};

/// A reference held by a C++ object that may be destroyed without the GIL: it takes
/// the GIL to let go. Use for Python objects kept in sources and readers.
class SharedRef {
 public:
  SharedRef() = default;
  explicit SharedRef(Ref ref);
  PyObject* get() const { return ref_ ? ref_->get() : nullptr; }

 private:
  std::shared_ptr<Ref> ref_;
};

/// The file name of flowsql's own Python code, left out of tracebacks.
inline constexpr char kInternalFile[] = "<flowsql>";

/// The Python error being raised, as an IOError: `what` (e.g. "my.Source.read()"),
/// then the exception and (with `with_traceback`) its traceback, as Python prints
/// them.
/// Clears the error. REQUIRES: the GIL held, an error set.
Status PythonError(const std::string& what, bool with_traceback = true);

/// The object `module.attr.attr...` names ("my_pkg.source.MySource"): the longest
/// importable module prefix, then attributes. Errors name the path.
/// REQUIRES: the GIL held.
Result<Ref> ImportObject(const std::string& path);

/// A dict of str to str. REQUIRES: the GIL held.
Result<Ref> ToDict(const std::map<std::string, std::string>& entries);

/// The text of a str (or of str(object)). REQUIRES: the GIL held.
Result<std::string> Text(PyObject* object);

/// Calls `object.method(args...)`; nullptr for a missing method is an error naming
/// `what`. REQUIRES: the GIL held.
Result<Ref> CallMethod(PyObject* object, const char* method, const std::string& what,
                       PyObject* arg1 = nullptr, PyObject* arg2 = nullptr,
                       PyObject* arg3 = nullptr);

/// A pyarrow.Schema (or anything with __arrow_c_schema__) as an Arrow schema.
/// REQUIRES: the GIL held.
Result<std::shared_ptr<arrow::Schema>> ImportSchema(PyObject* object,
                                                    const std::string& what);

/// A pyarrow.RecordBatch (or anything with __arrow_c_array__ holding a struct) as a
/// RecordBatch, sharing its buffers. REQUIRES: the GIL held.
Result<std::shared_ptr<arrow::RecordBatch>> ImportBatch(PyObject* object,
                                                        const std::string& what);

/// The error of `what` yielding an object of type `type_name` where a batch goes.
Status NotABatch(const std::string& what, const std::string& type_name);

/// Destructors of "arrow_schema" and "arrow_array" capsules: they release what
/// nobody imported.
void FreeSchemaCapsule(PyObject* capsule);
void FreeArrayCapsule(PyObject* capsule);

/// `batch` as a pyarrow.RecordBatch sharing its buffers (the Arrow PyCapsule
/// interface). REQUIRES: the GIL held.
Result<Ref> ExportBatch(const std::shared_ptr<arrow::RecordBatch>& batch);

}  // namespace flowsql::python
