#include "connectors/python/python_runtime.h"

#include <arrow/c/abi.h>
#include <arrow/c/bridge.h>

#include <cstdlib>
#include <cstring>
#include <mutex>

namespace flowsql::python {

namespace {

#ifndef FLOWSQL_PYTHON_EXECUTABLE
#define FLOWSQL_PYTHON_EXECUTABLE "python3"
#endif

/// The interpreter to start: FLOWSQL_PYTHON (the installed wheel's `flowsql` launcher
/// sets it to its own Python), else VIRTUAL_ENV's, else the one flowsql was built with.
std::string Executable() {
  const char* python = std::getenv("FLOWSQL_PYTHON");
  if (python != nullptr && *python != '\0') return python;
  const char* venv = std::getenv("VIRTUAL_ENV");
  if (venv != nullptr && *venv != '\0') return std::string(venv) + "/bin/python";
  return FLOWSQL_PYTHON_EXECUTABLE;
}

Status Start() {
  const std::string exe = Executable();
  PyConfig config;
  PyConfig_InitPythonConfig(&config);
  config.install_signal_handlers = 0;
  config.parse_argv = 0;
  PyStatus st = PyConfig_SetBytesString(&config, &config.program_name, exe.c_str());
  if (!PyStatus_Exception(st)) {
    st = PyConfig_SetBytesString(&config, &config.executable, exe.c_str());
  }
  if (!PyStatus_Exception(st)) st = Py_InitializeFromConfig(&config);
  PyConfig_Clear(&config);
  if (PyStatus_Exception(st)) {
    return Status::IOError("cannot start the Python interpreter ", exe, ": ",
                           st.err_msg != nullptr ? st.err_msg : "unknown error");
  }
  // Modules in the working folder import, as with `python -c`.
  Status status;
  if (PyRun_SimpleString("import sys; sys.path.insert(0, '')") != 0) {
    status = Status::IOError("cannot set up the Python interpreter ", exe);
  }
  PyEval_SaveThread();
  return status;
}

}  // namespace

Status EnsureInterpreter() {
  static std::once_flag once;
  static Status status;
  // Loaded into a running Python (the flowsql package), flowsql uses that
  // interpreter as it is, leaving its GIL and signal handlers alone.
  std::call_once(once, [] { status = Py_IsInitialized() ? Status::OK() : Start(); });
  return status;
}

SharedRef::SharedRef(Ref ref)
    : ref_(new Ref(std::move(ref)), [](Ref* r) {
        Gil gil;
        delete r;
      }) {}

Result<std::string> Text(PyObject* object) {
  Ref str(PyObject_Str(object));
  if (!str) return PythonError("str()");
  Py_ssize_t size = 0;
  const char* data = PyUnicode_AsUTF8AndSize(str.get(), &size);
  if (data == nullptr) return PythonError("str()");
  return std::string(data, static_cast<size_t>(size));
}

namespace {

/// `traceback` without its first entries in flowsql's own Python code (the python
/// connector's bridge: kInternalFile), which say nothing to the user.
Ref UserTraceback(Ref traceback) {
  while (traceback && traceback.get() != Py_None) {
    Ref frame(PyObject_GetAttrString(traceback.get(), "tb_frame"));
    Ref code(frame ? PyObject_GetAttrString(frame.get(), "f_code") : nullptr);
    Ref file(code ? PyObject_GetAttrString(code.get(), "co_filename") : nullptr);
    const char* name = file ? PyUnicode_AsUTF8(file.get()) : nullptr;
    if (name == nullptr || std::strcmp(name, kInternalFile) != 0) break;
    traceback = Ref(PyObject_GetAttrString(traceback.get(), "tb_next"));
  }
  PyErr_Clear();
  return traceback;
}

}  // namespace

Status PythonError(const std::string& what, bool with_traceback) {
  PyObject *type = nullptr, *value = nullptr, *traceback = nullptr;
  PyErr_Fetch(&type, &value, &traceback);
  if (type == nullptr) return Status::IOError(what, ": failed without a Python error");
  PyErr_NormalizeException(&type, &value, &traceback);
  Ref t(type), v(value), tb = UserTraceback(Ref(traceback));
  std::string text;
  Ref module(PyImport_ImportModule("traceback"));
  Ref lines;
  if (module && with_traceback) {
    lines = Ref(PyObject_CallMethod(module.get(), "format_exception", "OOO", t.get(),
                                    v ? v.get() : Py_None, tb ? tb.get() : Py_None));
  } else if (module) {
    lines = Ref(PyObject_CallMethod(module.get(), "format_exception_only", "OO", t.get(),
                                    v ? v.get() : Py_None));
  }
  if (lines) {
    Ref joined(PyUnicode_Join(Ref(PyUnicode_FromString("")).get(), lines.get()));
    if (joined) {
      const char* data = PyUnicode_AsUTF8(joined.get());
      if (data != nullptr) text = data;
    }
  }
  if (text.empty()) {
    PyErr_Clear();
    auto message = Text(v ? v.get() : t.get());
    text = message.ok() ? *message : "(an exception that cannot be printed)";
  }
  PyErr_Clear();
  while (!text.empty() && text.back() == '\n') text.pop_back();
  return Status::IOError(what, " raised:\n", text);
}

Result<Ref> ImportObject(const std::string& path) {
  // The longest prefix that imports as a module; the rest are attributes.
  size_t end = path.size();
  Ref object;
  while (true) {
    const std::string name = path.substr(0, end);
    object = Ref(PyImport_ImportModule(name.c_str()));
    if (object) break;
    // Only "no module of this name" moves on to a shorter one.
    PyObject *type = nullptr, *value = nullptr, *traceback = nullptr;
    PyErr_Fetch(&type, &value, &traceback);
    PyErr_NormalizeException(&type, &value, &traceback);
    bool missing = false;
    if (type != nullptr && PyErr_GivenExceptionMatches(type, PyExc_ModuleNotFoundError)) {
      Ref missing_name(value != nullptr ? PyObject_GetAttrString(value, "name")
                                        : nullptr);
      PyErr_Clear();
      auto text = missing_name ? Text(missing_name.get()) : Result<std::string>("");
      missing = text.ok() && name.rfind(*text, 0) == 0;
    }
    const size_t dot = name.rfind('.');
    if (!missing || dot == std::string::npos) {
      PyErr_Restore(type, value, traceback);
      return PythonError("import " + name);
    }
    Py_XDECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(traceback);
    end = dot;
  }
  for (size_t at = end; at < path.size();) {
    const size_t next = path.find('.', at + 1);
    const std::string attr = path.substr(at + 1, next - at - 1);
    Ref found(PyObject_GetAttrString(object.get(), attr.c_str()));
    if (!found) {
      PyErr_Clear();
      return Status::Invalid("'", path, "': module or object '", path.substr(0, at),
                             "' has no attribute '", attr, "'");
    }
    object = std::move(found);
    at = next == std::string::npos ? path.size() : next;
  }
  return object;
}

Result<Ref> ToDict(const std::map<std::string, std::string>& entries) {
  Ref dict(PyDict_New());
  if (!dict) return PythonError("dict()");
  for (const auto& [key, value] : entries) {
    Ref v(
        PyUnicode_FromStringAndSize(value.data(), static_cast<Py_ssize_t>(value.size())));
    if (!v || PyDict_SetItemString(dict.get(), key.c_str(), v.get()) != 0) {
      return PythonError("the options dict");
    }
  }
  return dict;
}

Result<Ref> CallMethod(PyObject* object, const char* method, const std::string& what,
                       PyObject* arg1, PyObject* arg2, PyObject* arg3) {
  Ref callable(PyObject_GetAttrString(object, method));
  if (!callable) {
    PyErr_Clear();
    return Status::Invalid(what, ": no method ", method, "()");
  }
  // The arguments end at the first nullptr.
  Ref result(PyObject_CallFunctionObjArgs(callable.get(), arg1, arg2, arg3, nullptr));
  if (!result) return PythonError(what);
  return result;
}

namespace {

/// The pointer a capsule named `name` holds.
template <typename T>
Result<T*> CapsulePointer(PyObject* capsule, const char* name, const std::string& what) {
  void* p = PyCapsule_GetPointer(capsule, name);
  if (p == nullptr) return PythonError(what);
  return static_cast<T*>(p);
}

std::string TypeName(PyObject* object) { return Py_TYPE(object)->tp_name; }

}  // namespace

Result<std::shared_ptr<arrow::Schema>> ImportSchema(PyObject* object,
                                                    const std::string& what) {
  if (!PyObject_HasAttrString(object, "__arrow_c_schema__")) {
    return Status::Invalid(what, " returned a ", TypeName(object),
                           ", not a pyarrow.Schema");
  }
  ARROW_ASSIGN_OR_RAISE(auto capsule, CallMethod(object, "__arrow_c_schema__", what));
  ARROW_ASSIGN_OR_RAISE(auto* schema,
                        CapsulePointer<ArrowSchema>(capsule.get(), "arrow_schema", what));
  return arrow::ImportSchema(schema);
}

Status NotABatch(const std::string& what, const std::string& type_name) {
  return Status::Invalid(what, " yielded a ", type_name, ", not a pyarrow.RecordBatch");
}

Result<std::shared_ptr<arrow::RecordBatch>> ImportBatch(PyObject* object,
                                                        const std::string& what) {
  if (!PyObject_HasAttrString(object, "__arrow_c_array__")) {
    return NotABatch(what, TypeName(object));
  }
  ARROW_ASSIGN_OR_RAISE(auto pair, CallMethod(object, "__arrow_c_array__", what));
  if (!PyTuple_Check(pair.get()) || PyTuple_Size(pair.get()) != 2) {
    return Status::Invalid(what, ": __arrow_c_array__() did not return two capsules");
  }
  ARROW_ASSIGN_OR_RAISE(
      auto* schema,
      CapsulePointer<ArrowSchema>(PyTuple_GetItem(pair.get(), 0), "arrow_schema", what));
  ARROW_ASSIGN_OR_RAISE(
      auto* array,
      CapsulePointer<ArrowArray>(PyTuple_GetItem(pair.get(), 1), "arrow_array", what));
  return arrow::ImportRecordBatch(array, schema);
}

void FreeSchemaCapsule(PyObject* capsule) {
  auto* schema = static_cast<ArrowSchema*>(PyCapsule_GetPointer(capsule, "arrow_schema"));
  if (schema->release != nullptr) schema->release(schema);
  delete schema;
}

void FreeArrayCapsule(PyObject* capsule) {
  auto* array = static_cast<ArrowArray*>(PyCapsule_GetPointer(capsule, "arrow_array"));
  if (array->release != nullptr) array->release(array);
  delete array;
}

Result<Ref> ExportBatch(const std::shared_ptr<arrow::RecordBatch>& batch) {
  static PyObject* import = nullptr;  // RecordBatch._import_from_c_capsule, for good
  if (import == nullptr) {
    ARROW_ASSIGN_OR_RAISE(Ref cls, ImportObject("pyarrow.RecordBatch"));
    import = PyObject_GetAttrString(cls.get(), "_import_from_c_capsule");
    if (import == nullptr)
      return PythonError("pyarrow.RecordBatch._import_from_c_capsule");
  }
  auto schema = std::make_unique<ArrowSchema>();
  auto array = std::make_unique<ArrowArray>();
  ARROW_RETURN_NOT_OK(arrow::ExportRecordBatch(*batch, array.get(), schema.get()));
  Ref schema_capsule(PyCapsule_New(schema.get(), "arrow_schema", FreeSchemaCapsule));
  if (!schema_capsule) {
    schema->release(schema.get());
    array->release(array.get());
    return PythonError("a batch for Python");
  }
  schema.release();  // the capsule's now
  Ref array_capsule(PyCapsule_New(array.get(), "arrow_array", FreeArrayCapsule));
  if (!array_capsule) {
    array->release(array.get());
    return PythonError("a batch for Python");
  }
  array.release();
  Ref result(PyObject_CallFunctionObjArgs(import, schema_capsule.get(),
                                          array_capsule.get(), nullptr));
  if (!result) return PythonError("pyarrow.RecordBatch._import_from_c_capsule");
  return result;
}

}  // namespace flowsql::python
