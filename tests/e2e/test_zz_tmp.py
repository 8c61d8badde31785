import time
from tests.conftest import make_tenant
from domain.identity.application import Identity
from domain.identity.principal import OPERATOR

def test_measure(platform):
    tenant = make_tenant(platform)
    ident = platform.get(Identity)
    b = tenant.brand_id
    sid = ident.create_staff(b, "zz@x.in", "Zed Zee", ["sales"], "a-long-passphrase-1", granter=OPERATOR).id
    done = 0
    for k in (1, 100, 500):
        while done < k:
            st = ident.staff(b, sid); st.record_login("1.2.3.4", "ua"); ident.commit(st); done += 1
        n = 200
        t = time.perf_counter()
        for _ in range(n):
            ident.staff(b, sid)
        a = (time.perf_counter() - t) / n
        print(f"\nlogins {k}: staff load {a*1e3:.3f} ms, version {ident.staff(b, sid).version}")
