"""The parser's logic, natively: `python3 -m unittest test_csvline`."""

import json
import unittest

from csvline import KIND_INT, KIND_NULL, KIND_STRING, ConfigProblem, CsvParser, ParseProblem


def parser(**config):
    return CsvParser(json.dumps(config))


class ConfigTest(unittest.TestCase):
    def refused(self, key, **config):
        with self.assertRaises(ConfigProblem) as caught:
            parser(**config)
        self.assertEqual(caught.exception.key, key, caught.exception.message)
        return caught.exception.message

    def test_errors_name_the_key(self):
        self.assertEqual(self.refused("columns"), "missing required key")
        self.refused("colums", columns=["a"], colums=["b"])
        self.refused("columns", columns=["a", "a"])
        self.refused("delimiter", columns=["a"], delimiter=";;")
        self.refused("types.b", columns=["a"], types={"b": "integer"})
        self.refused("types.a", columns=["a"], types={"a": "int"})
        self.refused("skip_header", columns=["a"], skip_header="yes")


class ParseTest(unittest.TestCase):
    def test_quoted_cells_and_types(self):
        p = parser(columns=["id", "msg", "pid"], types={"id": "integer", "pid": "integer"})
        kinds, numbers, texts = p.parse('7,"say ""hi"", then go",')
        self.assertEqual(list(kinds), [KIND_INT, KIND_STRING, KIND_NULL])
        self.assertEqual(numbers, [7, 0, 0])
        self.assertEqual(texts, [b"", 'say "hi", then go'.encode(), b""])
        self.assertEqual(p.parse("1,a,")[2], [b"", b"a", b""])

    def test_bad_lines_say_why(self):
        p = parser(columns=["id", "msg"], types={"id": "integer"})
        for line, reason in [
            ("1,2,3", "expected 2 columns, found 3"),
            ("x,y", "column `id`: `x` is not an integer"),
            ('1,"open', "malformed CSV"),
        ]:
            with self.assertRaises(ParseProblem) as caught:
                p.parse(line)
            self.assertIn(reason, str(caught.exception))

    def test_header_is_skipped_only_when_asked(self):
        self.assertIsNone(parser(columns=["a", "b"], skip_header=True).parse("a,b"))
        self.assertEqual(parser(columns=["a", "b"]).parse("a,b")[2], [b"a", b"b"])


if __name__ == "__main__":
    unittest.main()
