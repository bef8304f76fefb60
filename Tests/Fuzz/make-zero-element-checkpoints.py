# Makes the zero-element checkpoints of Regressions/FuzzTorchZip (torch.empty_strided((0, 2**32, 2**32), (1, 2**32, 1)) as torch.save writes it, without torch). Usage: make-zero-element-checkpoints.py A.pt B.pt
import sys, types, pickle, collections, io, zipfile
torch = types.ModuleType("torch"); utils = types.ModuleType("torch._utils")
def _rebuild_tensor_v2(*a): pass
_rebuild_tensor_v2.__module__ = "torch._utils"; _rebuild_tensor_v2.__qualname__ = "_rebuild_tensor_v2"
utils._rebuild_tensor_v2 = _rebuild_tensor_v2
class FloatStorage: pass
FloatStorage.__module__ = "torch"; FloatStorage.__qualname__ = "FloatStorage"
torch.FloatStorage = FloatStorage; torch._utils = utils
sys.modules["torch"] = torch; sys.modules["torch._utils"] = utils
class Stor: pass
class T:
    def __init__(self, size, stride): self.size, self.stride = size, stride
    def __reduce__(self): return (_rebuild_tensor_v2, (Stor(), 0, self.size, self.stride, False, collections.OrderedDict()))
class P(pickle.Pickler):
    def persistent_id(self, obj):
        return ("storage", FloatStorage, "0", "cpu", 0) if isinstance(obj, Stor) else None
def make(path, size, stride):
    b = io.BytesIO()
    P(b, protocol=2).dump(collections.OrderedDict([("t", T(size, stride))]))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl", b.getvalue()); z.writestr("archive/byteorder", "little")
        z.writestr("archive/data/0", b""); z.writestr("archive/version", "3\n")
make(sys.argv[1], (0, 2**32, 2**32), (1, 2**32, 1))
make(sys.argv[2], (2**32, 2**32, 0), (1, 1, 1))
