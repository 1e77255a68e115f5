# The golden values of ledger/src/sealed/tests.rs, computed independently of the Rust code:
# RFC 9180 (HPKE base mode, DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20-Poly1305) written
# out by hand over the primitives of Python's `cryptography` package. Run: python3 ledger/golden/sealed.py
import hashlib, hmac, struct
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives import serialization

class Stream:
    def __init__(s): s.buf=b''; s.c=0
    def take(s,n):
        while len(s.buf)<n:
            s.buf+=hashlib.sha256(b"tagtrail test random"+struct.pack(">Q",s.c)).digest(); s.c+=1
        out=s.buf[:n]; s.buf=s.buf[n:]; return out

def extract(salt, ikm): return hmac.new(salt or b'\0'*32, ikm, hashlib.sha256).digest()
def expand(prk, info, L):
    out=b''; t=b''; i=1
    while len(out)<L:
        t=hmac.new(prk, t+info+bytes([i]), hashlib.sha256).digest(); out+=t; i+=1
    return out[:L]
KEM_SUITE=b"KEM"+struct.pack(">H",0x20)
HPKE_SUITE=b"HPKE"+struct.pack(">HHH",0x20,1,3)
def lextract(suite,salt,label,ikm): return extract(salt, b"HPKE-v1"+suite+label+ikm)
def lexpand(suite,prk,label,info,L): return expand(prk, struct.pack(">H",L)+b"HPKE-v1"+suite+label+info, L)
def derive(ikm):
    prk=lextract(KEM_SUITE,b'',b"dkp_prk",ikm)
    sk=lexpand(KEM_SUITE,prk,b"sk",b'',32)
    pk=X25519PrivateKey.from_private_bytes(sk).public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return sk,pk
def hpke_seal(pkR, info, aad, pt, ikmE):
    skE,pkE=derive(ikmE)
    dh=X25519PrivateKey.from_private_bytes(skE).exchange(X25519PublicKey.from_public_bytes(pkR))
    ctx=pkE+pkR
    prk=lextract(KEM_SUITE,b'',b"eae_prk",dh)
    shared=lexpand(KEM_SUITE,prk,b"shared_secret",ctx,32)
    psk_id_hash=lextract(HPKE_SUITE,b'',b"psk_id_hash",b'')
    info_hash=lextract(HPKE_SUITE,b'',b"info_hash",info)
    ksc=b'\0'+psk_id_hash+info_hash
    secret=lextract(HPKE_SUITE,shared,b"secret",b'')
    key=lexpand(HPKE_SUITE,secret,b"key",ksc,32)
    nonce=lexpand(HPKE_SUITE,secret,b"base_nonce",ksc,12)
    return pkE, ChaCha20Poly1305(key).encrypt(nonce, pt, aad)

r=Stream()
sk,pk=derive(r.take(32))
k=bytearray(sk); k[0]&=248; k[31]&=127; k[31]|=64
print('const GOLDEN_SECRET: &str = "%s";'%bytes(k).hex())
print('const GOLDEN_PUBLIC: &str = "%s";'%pk.hex())
batch=r.take(32)
enc,ct=hpke_seal(pk, b"tagtrail sealed field v1 batch key", b'', batch, r.take(32))
ADDRESS=b'{"street":"1 Rue de la Paix","city":"Paris","phone":"+33 1 23 45 67 89"}'
salt=r.take(32); fkey=r.take(32)
C=hashlib.sha256(b"tagtrail sealed field v1 commitment\0"+salt+ADDRESS).digest()
header=bytes([1,1])+C
field=header+ChaCha20Poly1305(fkey).encrypt(b'\0'*12, salt+ADDRESS, header)
print('const GOLDEN_FIELD: &str = "%s";'%field.hex())
prk=extract(None, batch)
wk=expand(prk, b"tagtrail sealed field v1 field key wrap\0"+C, 32)
wrapped=ChaCha20Poly1305(wk).encrypt(b'\0'*12, fkey, C)
keyset=bytes([1,1])+pk+enc+ct+struct.pack(">H",1)+C+wrapped
print('const GOLDEN_KEY_SET: &str = "%s";'%keyset.hex())
salt2=r.take(32); v=b'"lot 7 costs 3.10 EUR"'
C2=hashlib.sha256(b"tagtrail sealed field v1 commitment\0"+salt2+v).digest()
print('const GOLDEN_COMMITTED: &str = "%s";'%(bytes([1,0])+C2).hex())
print('const GOLDEN_COMMITTED_SALT: &str = "%s";'%salt2.hex())
