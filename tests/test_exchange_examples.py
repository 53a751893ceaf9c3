"""The source document's seven examples are parsed whole, and nothing else comes with them."""
from teichaku.crosstenant.exchange.examples import parse_examples, source_text


def test_the_source_document_yields_its_seven_examples_in_order_with_every_section():
    examples = parse_examples()
    assert [e.number for e in examples] == [1, 2, 3, 4, 5, 6, 7]
    assert examples[2].title == "既存の仕組みを活用し、地域・圏域・広域での連携体制を構築"
    for example in examples:
        assert example.background and example.actions and example.outcomes, example.number


def test_reference_material_stays_with_its_example_and_its_numbered_lists_do_not_start_examples():
    examples = parse_examples()
    assert "再犯防止対策の役割分担" in examples[3].reference
    assert "研修動画" in examples[6].reference
    assert not examples[0].reference


def test_the_publishers_colophon_is_part_of_no_example():
    text = "\n".join(f"{e.title}\n{e.background}\n{e.actions}\n{e.outcomes}\n{e.reference}" for e in parse_examples())
    assert "インターリスク総研" in source_text()
    for colophon in ("インターリスク総研", "03-5296-8976", "〒101-0063", "令和5年3月 発行"):
        assert colophon not in text


def test_bullets_become_plain_lines_without_empty_items():
    for example in parse_examples():
        for field in (example.background, example.actions, example.outcomes):
            assert "- ・" not in field and "\n\n" not in field
            assert all(line.strip() not in ("", "・") for line in field.splitlines())


# --- loading them: the same flow a center uses, published by the association with no center ---------

def _load(app, email):
    return app.test_cli_runner().invoke(args=["exchange", "load-examples", "--moderator", email])


def _token_client(app, user):
    from tests import factories

    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {factories.api_token(app.test_client(), user)}"
    return client


def test_loading_publishes_the_seven_examples_as_the_association_with_no_center_shown(app, world):
    result = _load(app, world.users["association"]["email"])
    assert result.exit_code == 0, result.output
    assert result.output.count("published\t") == 7
    reader = _token_client(app, world.users["b_staff"])
    items = reader.get("/api/v1/case-studies?limit=50").get_json()["items"]
    titles = {e.title for e in parse_examples()}
    loaded = [i for i in items if i["title"] in titles]
    assert len(loaded) == 7
    assert all(i["publisher"] == "association" and i["center"] is None for i in loaded)


def test_loading_twice_adds_nothing(app, world):
    assert _load(app, world.users["association"]["email"]).exit_code == 0
    again = _load(app, world.users["association"]["email"])
    assert again.exit_code == 0 and again.output.count("already present\t") == 7 and "published\t" not in again.output


def test_a_loaded_example_is_found_by_a_two_character_search_from_any_center(app, world):
    assert _load(app, world.users["association"]["email"]).exit_code == 0
    reader = _token_client(app, world.users["a_staff"])
    found = reader.get("/api/v1/case-studies", query_string={"q": "動画"}).get_json()["items"]
    assert [i["title"] for i in found] == [parse_examples()[6].title]


def test_only_an_association_account_may_load_the_examples(app, world):
    result = _load(app, world.users["a_admin"]["email"])
    assert result.exit_code == 2
    items = _token_client(app, world.users["b_staff"]).get("/api/v1/case-studies?limit=50").get_json()["items"]
    assert not {i["title"] for i in items} & {e.title for e in parse_examples()}
