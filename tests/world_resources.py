"""The local resources directory in the test world: center B's resource (with a contact), and
what the isolation sweep needs to reach ``resources.*`` and ``api_resources.*``."""
from __future__ import annotations

from teichaku.platform.centers import center_by_code
from teichaku.platform.extensions import db
from teichaku.platform.tenancy import set_tenant
from teichaku.tenants.resources.services import create_resource

# B's values are distinctive so that a leak check can't match A's or C's by accident.
B_RESOURCE = {
    "name": "乙坂秘匿ホーム", "kana": "おとさかひとくほーむ", "resource_type": "self_reliance_home",
    "municipality_name": "大阪市", "municipality_code": "271004", "address": "大阪市北区乙町1-2-3",
    "capacity": 6, "openings": 2, "accepts_record": "yes", "self_reliance_home_registered": True,
    "contacts": [{"name": "乙坂連絡子", "role": "施設長", "phone": "06-0000-1234", "email": "otosaka@b.example.jp"}],
}


def extend_world(app, world) -> None:
    with app.app_context():
        set_tenant(center_by_code("osaka").id)
        resource = create_resource(B_RESOURCE)
        db.session.commit()
        world.objects["resource_b"] = {"id": resource.id, "name": resource.name,
                                       "contact_id": resource.contacts[0].id, "contact_name": resource.contacts[0].name}


TENANT_PARAMS = {
    "resource_id": lambda w: str(w.objects["resource_b"]["id"]),
    # cases closed with a placement name the resource in their body
    "placement_resource_id": lambda w: str(w.objects["resource_b"]["id"]),
}

API_BODIES = {
    "api_resources.create_resource": {"name": "掃引テスト資源", "resource_type": "other"},
    "api_resources.update_resource": {"notes": "改ざん"},
}

PAGE_BODIES = {
    "resources.new": {"name": "掃引テスト資源", "resource_type": "other"},
    "resources.edit": {"name": "改ざん", "resource_type": "other", "version": "1"},
}
