#!/usr/bin/env python3
"""Rewrite a GGUF file with metadata keys set or deleted and tensors dropped (for
differential checks against llama.cpp; tensor data is copied unchanged).
usage: gguf_patch.py IN OUT [set KEY u32|f32|bool|str VALUE]... [del KEY]... [drop TENSOR]...
(assumes the default alignment of 32)"""
import struct, sys
def rd(b, o, fmt):
    s = struct.calcsize(fmt); return struct.unpack_from('<'+fmt, b, o), o+s
def rstr(b, o):
    (n,), o = rd(b, o, 'Q'); return b[o:o+n].decode(), o+n
SC = {0:'B',1:'b',2:'H',3:'h',4:'I',5:'i',6:'f',7:'?',10:'Q',11:'q',12:'d'}
def skipval(b, o, t):
    if t in SC: return o + struct.calcsize(SC[t])
    if t == 8: _, o = rstr(b, o); return o
    (et,), o = rd(b, o, 'I'); (n,), o = rd(b, o, 'Q')
    for _ in range(n): o = skipval(b, o, et)
    return o
b = open(sys.argv[1], 'rb').read()
(ver,), _ = rd(b, 4, 'I'); (nt, nkv), o = rd(b, 8, 'QQ')
kvs = []
for _ in range(nkv):
    s = o; k, o = rstr(b, o); (t,), o = rd(b, o, 'I'); o = skipval(b, o, t); kvs.append((k, b[s:o]))
ts = []
for _ in range(nt):
    name, o = rstr(b, o); (nd,), o = rd(b, o, 'I'); ne, o = rd(b, o, 'Q'*nd); (t,), o = rd(b, o, 'I'); (off,), o = rd(b, o, 'Q')
    ts.append([name, nd, ne, t, off])
al = 32
ds = (o + al - 1)//al*al
data = b[ds:]
def enc_str(s): s = s.encode(); return struct.pack('<Q', len(s)) + s
args = sys.argv[3:]; i = 0; drops = set()
kd = dict(kvs); order = [k for k, _ in kvs]
while i < len(args):
    if args[i] == 'set':
        k, t, v = args[i+1], args[i+2], args[i+3]; i += 4
        if t == 'u32': val = struct.pack('<I', 4) + struct.pack('<I', int(v))
        elif t == 'f32': val = struct.pack('<I', 6) + struct.pack('<f', float(v))
        elif t == 'bool': val = struct.pack('<I', 7) + struct.pack('<B', int(v))
        elif t == 'str': val = struct.pack('<I', 8) + enc_str(v)
        if k not in kd: order.append(k)
        kd[k] = enc_str(k) + val
    elif args[i] == 'del': kd.pop(args[i+1], None); order.remove(args[i+1]); i += 2
    elif args[i] == 'drop': drops.add(args[i+1]); i += 2
ts = [t for t in ts if t[0] not in drops]
h = b'GGUF' + struct.pack('<IQQ', ver, len(ts), len(order)) + b''.join(kd[k] for k in order)
for name, nd, ne, t, off in ts:
    h += enc_str(name) + struct.pack('<I', nd) + struct.pack('<'+'Q'*nd, *ne) + struct.pack('<IQ', t, off)
h += b'\0' * ((al - len(h) % al) % al)
open(sys.argv[2], 'wb').write(h + data)
